//! Accounts: register, read, update, delete, list.
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use shared::auth::{Authenticator, Caller, Role};
use shared::db::unexpected;
use shared::http::pagination::{self, decode_cursor, paginate};
use shared::http::validation::Errors;
use shared::http::{ApiError, FieldError, Json};
use uuid::Uuid;

use super::AppState;
use crate::domain::email::Email;
use crate::domain::password::{self, Password};
use crate::domain::profile;
use crate::entity::users::Model;
use crate::repository::users::{self as repo, Changes, InsertError, NewUser};

/// Mounts `/users` (the `me` route before `{id}`, which would not parse it).
pub fn config_users_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::post().to(register))
            .route(web::get().to(list)),
    )
    .service(web::resource("/users/me").route(web::get().to(me)))
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// An account as the API shows it (never the password hash).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub age: Option<i16>,
    pub country: Option<String>,
    pub interests: Vec<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Model> for UserResponse {
    fn from(model: Model) -> Self {
        let role = repo::role_of(&model);
        Self {
            id: model.id,
            email: model.email,
            display_name: model.display_name,
            age: model.age,
            country: model.country,
            interests: model.interests,
            role,
            created_at: model.created_at.to_utc(),
            updated_at: model.updated_at.to_utc(),
        }
    }
}

/// A registration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Normalised (trimmed, lower-cased); unique.
    pub email: String,
    /// At least `users.min_password_length` characters (10 by default).
    #[schema(value_type = String, format = Password)]
    pub password: String,
    /// 1 to 100 characters.
    pub display_name: String,
    /// 13 to 120.
    #[serde(default)]
    pub age: Option<i64>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// Category names (at most 32).
    #[serde(default)]
    pub interests: Vec<String>,
}

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// A 422 naming every invalid field.
    #[error("the registration is invalid")]
    Invalid(ApiError),
    #[error("the e-mail address is taken")]
    EmailTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<RegisterError> for ApiError {
    fn from(error: RegisterError) -> Self {
        match error {
            RegisterError::Invalid(error) => error,
            RegisterError::EmailTaken => ApiError::new(
                StatusCode::CONFLICT,
                "email-taken",
                "An account with this e-mail address already exists.",
            ),
            RegisterError::Unexpected(e) => unexpected(e),
        }
    }
}

fn parse_registration(
    request: RegisterRequest,
    min_password: usize,
) -> Result<(NewUser, Password), RegisterError> {
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&request.email));
    let password = errors.check("password", Password::parse(request.password, min_password));
    let display_name = errors.check("display_name", profile::display_name(&request.display_name));
    let age = request.age.map(|a| errors.check("age", profile::age(a)));
    let country = request
        .country
        .as_deref()
        .map(|c| errors.check("country", profile::country(c)));
    let interests = errors.check("interests", profile::interests(&request.interests));
    errors.finish().map_err(RegisterError::Invalid)?;
    let (Some(email), Some(password), Some(display_name), Some(interests)) =
        (email, password, display_name, interests)
    else {
        return Err(RegisterError::Unexpected(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let new = NewUser {
        email,
        password_hash: String::new(),
        display_name,
        age: age.flatten(),
        country: country.flatten(),
        interests,
        role: Role::User,
    };
    Ok((new, password))
}

/// Register an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created; `Location` names the account", body = UserResponse),
        (status = 409, description = "E-mail address taken", body = shared::http::problem::Problem),
        (status = 422, description = "Invalid fields", body = shared::http::problem::Problem),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = shared::http::problem::Problem),
        (status = 503, description = "Every password hashing slot is busy; see Retry-After", body = shared::http::problem::Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limits.register(shared::http::client_ip(&req))?;
    let (mut new, password) = parse_registration(body.into_inner(), state.settings.min_password_length)?;
    new.password_hash = state
        .limits
        .hashing(password.hash())
        .await?
        .map_err(RegisterError::Unexpected)?;
    let user = repo::insert(&state.db, new).await.map_err(|e| match e {
        InsertError::EmailTaken => RegisterError::EmailTaken,
        InsertError::Unexpected(e) => RegisterError::Unexpected(e),
    })?;
    state.outbox.wake();
    tracing::info!(user_id = %user.id, "user registered");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(UserResponse::from(user)))
}

/// The account of the token's user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = shared::http::problem::Problem),
        (status = 403, description = "Called with the API key, which is not a user"),
        (status = 404, description = "The token's account was deleted")))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let id = caller.user_id().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The API key does not belong to a user.",
        )
    })?;
    load(&state, id)
        .await
        .map(|u| HttpResponse::Ok().json(UserResponse::from(u)))
}

/// One account (its owner or an admin).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserResponse), (status = 401), (status = 403), (status = 404)))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    caller.require_self_or_admin(id)?;
    load(&state, id)
        .await
        .map(|u| HttpResponse::Ok().json(UserResponse::from(u)))
}

async fn load(state: &AppState, id: Uuid) -> Result<Model, ApiError> {
    repo::find(&state.db, id)
        .await
        .map_err(unexpected)?
        .ok_or_else(user_not_found)
}

fn configured_admin_is_protected() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "The configured admin account (admin.email) is managed by configuration: it is neither deleted nor demoted here.",
    )
}

fn user_not_found() -> ApiError {
    ApiError::not_found("No such user.")
}

/// A partial update: absent fields stay, `null` clears `age` or `country`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub age: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub country: Option<Option<String>>,
    pub interests: Option<Vec<String>>,
    /// A new password; the owner must also send `current_password`. Only the owner may change it.
    /// Ends every session of the account.
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<String>,
    #[schema(value_type = Option<String>, format = Password)]
    pub current_password: Option<String>,
    /// Admins only, and not their own. Ends every session of the account.
    pub role: Option<Role>,
}

/// Tells "field absent" (`None`) from "field is null" (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn parse_changes(
    request: UpdateRequest,
    caller: &Caller,
    current: &Model,
    min_password: usize,
    state: &AppState,
) -> Result<Changes, ApiError> {
    let configured_admin = state.configured_admin.as_deref();
    if request.role.is_some() {
        caller.require_admin()?;
        if configured_admin.is_some_and(|email| email == current.email) {
            return Err(configured_admin_is_protected());
        }
        if caller.user_id() == Some(current.id) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Admins cannot change their own role.",
            ));
        }
    }
    if request.password.is_some() && caller.user_id() != Some(current.id) {
        // Nobody else (no admin, no key) sets a password: that would be taking the account over.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only the account's owner can change its password.",
        ));
    }
    let mut errors = Errors::default();
    let mut changes = Changes {
        display_name: request
            .display_name
            .and_then(|n| errors.check("display_name", profile::display_name(&n))),
        age: request
            .age
            .map(|a| a.and_then(|a| errors.check("age", profile::age(a)))),
        country: request
            .country
            .map(|c| c.and_then(|c| errors.check("country", profile::country(&c)))),
        interests: request
            .interests
            .and_then(|i| errors.check("interests", profile::interests(&i))),
        password_hash: None,
        role: request.role,
    };
    let new_password = request
        .password
        .and_then(|p| errors.check("password", Password::parse(p, min_password)));
    errors.finish()?;
    if let Some(password) = new_password {
        let given = request.current_password.unwrap_or_default();
        let matches = state
            .limits
            .hashing(password::verify(
                given.into(),
                Some(current.password_hash.clone()),
            ))
            .await?
            .map_err(unexpected)?;
        if !matches {
            return Err(ApiError::validation(vec![FieldError {
                field: "current_password".into(),
                message: "must be the account's current password".into(),
            }]));
        }
        changes.password_hash = Some(state.limits.hashing(password.hash()).await?.map_err(unexpected)?);
    }
    Ok(changes)
}

fn is_empty(changes: &Changes) -> bool {
    changes.display_name.is_none()
        && changes.age.is_none()
        && changes.country.is_none()
        && changes.interests.is_none()
        && changes.password_hash.is_none()
        && changes.role.is_none()
}

/// Change profile fields (owner or admin), the password (owner) or the role (another admin). A
/// new password or role ends every session of the account.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateRequest,
    responses((status = 200, body = UserResponse), (status = 401), (status = 403), (status = 404),
        (status = 422, body = shared::http::problem::Problem)))]
#[tracing::instrument(skip(state, auth, body), fields(user_id = %id))]
pub async fn update(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: Json<UpdateRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    caller.require_self_or_admin(id)?;
    let current = load(&state, id).await?;
    let changes = parse_changes(
        body.into_inner(),
        &caller,
        &current,
        state.settings.min_password_length,
        &state,
    )
    .await?;
    if is_empty(&changes) {
        // Nothing to change: no write, no event.
        return Ok(HttpResponse::Ok().json(UserResponse::from(current)));
    }
    let updated = repo::update(&state.db, id, changes, auth.access_token_ttl())
        .await
        .map_err(unexpected)?
        .ok_or_else(user_not_found)?;
    state.outbox.wake();
    // This instance refuses them at once; the others when the event reaches them.
    auth.revocations().end_sessions(&updated.ended_sessions);
    Ok(HttpResponse::Ok().json(UserResponse::from(updated.user)))
}

/// Delete an account (owner or admin); publishes `user_deleted`, which ends its tokens everywhere.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
#[tracing::instrument(skip(state, auth), fields(user_id = %id))]
pub async fn delete(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    caller.require_self_or_admin(id)?;
    if let Some(email) = &state.configured_admin {
        if load(&state, id).await?.email == *email {
            return Err(configured_admin_is_protected());
        }
    }
    if !repo::delete(&state.db, id).await.map_err(unexpected)? {
        return Err(user_not_found());
    }
    state.outbox.wake();
    auth.revocations().delete_user(id);
    state.known_users.forget(id);
    Ok(HttpResponse::NoContent().finish())
}

/// Paging parameters of the account list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the account with this e-mail address (at most one item, no next page).
    pub email: Option<String>,
}

/// A page of accounts.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// All accounts in creation order, a page at a time, or the one with an e-mail address (admins
/// only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = UserPage), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let limit = pagination::limit(query.limit)?;
    if let Some(email) = &query.email {
        let email = Email::parse(email).map_err(|e| ApiError::bad_request(format!("email: {e}")))?;
        let found = repo::find_by_email(&state.db, &email).await.map_err(unexpected)?;
        let items = found.into_iter().map(UserResponse::from).collect();
        return Ok(HttpResponse::Ok().json(UserPage {
            items,
            next_cursor: None,
        }));
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    // One extra row tells whether there is a next page.
    let rows = repo::list(&state.db, after, limit + 1)
        .await
        .map_err(unexpected)?;
    let (rows, next_cursor) = paginate(rows, limit, |u| u.id);
    let items = rows.into_iter().map(UserResponse::from).collect();
    Ok(HttpResponse::Ok().json(UserPage { items, next_cursor }))
}
