//! Login, refresh, logout and the public keys: e-mail and password for a session, whose access
//! tokens are short-lived and renewed with rotating refresh tokens.
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::auth::{Authenticator, Caller};
use shared::db::unexpected;
use shared::http::{ApiError, Json};
use uuid::Uuid;

use super::AppState;
use crate::domain::email::Email;
use crate::domain::password;
use crate::entity::users::Model;
use crate::repository::sessions::{self, Rotated};
use crate::repository::users as repo;

/// Mounts `/auth`.
pub fn config_auth_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)))
        .service(web::resource("/auth/refresh").route(web::post().to(refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/auth/jwks").route(web::get().to(jwks)));
}

/// Credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A session's tokens: send `Authorization: Bearer <access_token>`; before it expires, trade
/// `refresh_token` at `/auth/refresh` for the next pair (each refresh token works once).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Single use; a second use ends the session.
    pub refresh_token: String,
}

/// Exchange e-mail and password for a new session's tokens. The same 401 whether the e-mail is
/// unknown or the password wrong, after the same amount of work.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = shared::http::problem::Problem),
        (status = 422, body = shared::http::problem::Problem),
        (status = 429, description = "Too many attempts from this address or for this account; see Retry-After", body = shared::http::problem::Problem),
        (status = 503, description = "Every password hashing slot is busy; see Retry-After", body = shared::http::problem::Problem)))]
#[tracing::instrument(skip_all)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let parsed = Email::parse(&email);
    // The account as limits count it: the normalised address, or what was sent.
    let account = parsed
        .as_ref()
        .map_or_else(|_| email.trim().to_lowercase(), |e| e.as_str().to_owned());
    state.limits.login(shared::http::client_ip(&req), &account)?;
    let user = match parsed {
        Ok(email) => repo::find_by_email(&state.db, &email).await.map_err(unexpected)?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state
        .limits
        .hashing(password::verify(password, stored))
        .await?
        .map_err(unexpected)?;
    if !verified {
        // Counted as a failure when the attempt began.
        return Err(invalid_credentials());
    }
    state.limits.login_succeeded(&account);
    let Some(user) = user else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "password verified without an account"
        )));
    };
    let ttl = Duration::from_secs(state.settings.session_ttl_seconds);
    let (session, refresh_token) = sessions::start(&state.db, user.id, ttl)
        .await
        .map_err(unexpected)?;
    tracing::info!(user_id = %user.id, session_id = %session, "user logged in");
    tokens(&auth, &user, session, refresh_token)
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "E-mail or password is wrong.",
    )
}

fn tokens(
    auth: &Authenticator,
    user: &Model,
    session: Uuid,
    refresh_token: String,
) -> Result<HttpResponse, ApiError> {
    let (access_token, expires_in) = auth
        .issue(user.id, repo::role_of(user), session)
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        refresh_token,
    }))
}

/// A refresh token to trade.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String, format = Password)]
    pub refresh_token: SecretString,
}

/// Trade a refresh token for the session's next tokens (the role is read again). A refresh
/// token used twice ends its session: someone copied it.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, description = "Unknown, expired, reused or of an ended session", body = shared::http::problem::Problem)))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    let rotated = sessions::rotate(&state.db, token.expose_secret(), auth.access_token_ttl())
        .await
        .map_err(unexpected)?;
    match rotated {
        Rotated::Renewed { user, session, token } => tokens(&auth, &user, session, token),
        Rotated::Invalid => Err(invalid_refresh()),
        Rotated::Reused { user, session } => {
            state.outbox.wake();
            auth.revocations().end_sessions(&[session]);
            tracing::warn!(user_id = %user, session_id = %session, "refresh token reused: session ended");
            Err(invalid_refresh())
        }
    }
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
        "The refresh token is unknown, expired, already used or of an ended session; log in again.",
    )
}

/// What to end.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// End every session of the account, not only this one.
    #[serde(default)]
    pub everywhere: bool,
}

/// End the token's session (or all of the account's): its access and refresh tokens are
/// refused from now on, by every service within seconds.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    request_body(content = Option<LogoutRequest>),
    responses((status = 204), (status = 401), (status = 403, description = "Not a user's token")))]
#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    caller: Caller,
    body: Option<Json<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let Caller::User { id, session, .. } = caller else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Only a user's session can be logged out.",
        ));
    };
    let everywhere = body.is_some_and(|b| b.everywhere);
    let only = (!everywhere).then_some(session);
    let mut ended = sessions::end(&state.db, id, only, auth.access_token_ttl())
        .await
        .map_err(unexpected)?;
    state.outbox.wake();
    // This token's session at least, even if it was already over.
    ended.push(session);
    auth.revocations().end_sessions(&ended);
    tracing::info!(user_id = %id, sessions = ended.len(), "logged out");
    Ok(HttpResponse::NoContent().finish())
}

/// The public keys that verify access tokens (JWKS, RFC 7517): other services may fetch them
/// (`auth.jwks_url`) instead of configuring them.
#[utoipa::path(get, path = "/api/v1/auth/jwks", tag = "auth",
    responses((status = 200, description = "A JWK set of Ed25519 keys", body = Object)))]
pub async fn jwks(auth: web::Data<Authenticator>) -> HttpResponse {
    match auth.jwks() {
        Some(set) => HttpResponse::Ok()
            .insert_header(("cache-control", "public, max-age=60"))
            .json(set),
        None => HttpResponse::Ok().json(serde_json::json!({"keys": []})),
    }
}
