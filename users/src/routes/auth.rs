//! Login: e-mail and password for a JWT access token.
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::auth::Authenticator;
use shared::db::unexpected;
use shared::http::{ApiError, Json};

use super::AppState;
use crate::domain::email::Email;
use crate::domain::password;
use crate::repository::users as repo;

/// Mounts `/auth`.
pub fn config_auth_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").route(web::post().to(login)));
}

/// Credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A bearer token for `Authorization: Bearer <access_token>`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Exchange e-mail and password for an access token. The same 401 whether the e-mail is
/// unknown or the password wrong, after the same amount of work.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = shared::http::problem::Problem),
        (status = 422, body = shared::http::problem::Problem)))]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    let user = match Email::parse(&email) {
        Ok(email) => repo::find_by_email(&state.db, &email).await.map_err(unexpected)?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !password::verify(password, stored).await.map_err(unexpected)? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "E-mail or password is wrong.",
        ));
    }
    let Some(user) = user else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "password verified without an account"
        )));
    };
    let (access_token, expires_in) = auth
        .issue(user.id, repo::role_of(&user))
        .map_err(ApiError::internal)?;
    tracing::info!(user_id = %user.id, "user logged in");
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
    }))
}
