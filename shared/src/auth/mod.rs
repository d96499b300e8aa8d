//! Who is calling: a user or admin with a JWT (`Authorization: Bearer`), or a trusted backend
//! with the service API key (`X-API-Key`). Every service verifies the same way with the same
//! configuration keys (`auth.jwt_secret`, `auth.token_ttl_seconds`, `auth.api_key`).
use std::future::{ready, Ready};

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::ApiError;

/// Header carrying the server-to-server key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// `iss` of every token, checked on verification.
const ISSUER: &str = "recplatform-users";

/// The `auth` configuration section.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 signing secret, shared by every service; at least 32 bytes.
    pub jwt_secret: SecretString,
    /// Lifetime of an access token.
    #[serde(default = "default_ttl")]
    pub token_ttl_seconds: u64,
    /// Key that trusted backends send as `X-API-Key`.
    pub api_key: SecretString,
}

fn default_ttl() -> u64 {
    3600
}

/// What a user may do beyond their own data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    /// The role's name as stored and sent (`user`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and verifies tokens and checks API keys. Put it in app data as `web::Data<Authenticator>`.
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    api_key: SecretString,
    ttl_seconds: u64,
}

impl Authenticator {
    /// Fails on a secret shorter than 32 bytes or an empty API key.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        anyhow::ensure!(secret.len() >= 32, "auth.jwt_secret must be at least 32 bytes");
        anyhow::ensure!(
            !settings.api_key.expose_secret().is_empty(),
            "auth.api_key must not be empty"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            api_key: settings.api_key.clone(),
            ttl_seconds: settings.token_ttl_seconds,
        })
    }

    /// A signed access token for `user` with `role`, and its lifetime in seconds.
    pub fn issue(&self, user: Uuid, role: Role) -> anyhow::Result<(String, u64)> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl_seconds as i64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, self.ttl_seconds))
    }

    /// Verifies a token's signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::InvalidToken)
    }

    fn api_key_matches(&self, candidate: &str) -> bool {
        constant_time_eq::constant_time_eq(candidate.as_bytes(), self.api_key.expose_secret().as_bytes())
    }

    fn authenticate(&self, req: &HttpRequest) -> Result<Caller, AuthError> {
        if let Some(key) = req.headers().get(API_KEY_HEADER) {
            let key = key.to_str().map_err(|_| AuthError::InvalidApiKey)?;
            return if self.api_key_matches(key) {
                Ok(Caller::Service)
            } else {
                Err(AuthError::InvalidApiKey)
            };
        }
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(AuthError::Missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or(AuthError::InvalidToken)?;
        let claims = self.verify(token.trim())?;
        Ok(Caller::User {
            id: claims.sub,
            role: claims.role,
        })
    }
}

/// The authenticated caller of a request (an extractor: a handler that takes it requires
/// credentials; without valid ones the request is answered 401 before the handler runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    User {
        id: Uuid,
        role: Role,
    },
    /// A trusted backend holding the API key.
    Service,
}

impl Caller {
    /// Admins only (not the service key).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::User {
                role: Role::Admin, ..
            } => Ok(()),
            Caller::User { .. } | Caller::Service => Err(forbidden()),
        }
    }

    /// The user themself, an admin, or a trusted backend.
    pub fn require_self_or_privileged(&self, user: Uuid) -> Result<(), ApiError> {
        match self {
            Caller::User { id, role } if *id == user || *role == Role::Admin => Ok(()),
            Caller::Service => Ok(()),
            Caller::User { .. } => Err(forbidden()),
        }
    }

    /// The caller's user id, if a user.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Caller::User { id, .. } => Some(*id),
            Caller::Service => None,
        }
    }

    /// True for admins and the service key.
    pub fn is_privileged(&self) -> bool {
        matches!(
            self,
            Caller::User {
                role: Role::Admin,
                ..
            } | Caller::Service
        )
    }
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "You may not access this resource.",
    )
}

/// Why a request is not authenticated (all answered 401 with `WWW-Authenticate`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Missing credentials: send Authorization: Bearer <token> or X-API-Key.")]
    Missing,
    #[error("The access token is invalid or expired.")]
    InvalidToken,
    #[error("The API key is invalid.")]
    InvalidApiKey,
    #[error("Authentication is not configured for this route.")]
    NotConfigured,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::InvalidToken | AuthError::InvalidApiKey => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response =
            ApiError::new(self.status_code(), "unauthorized", self.to_string()).error_response();
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<Authenticator>>() {
            Some(auth) => auth.authenticate(req),
            None => Err(AuthError::NotConfigured),
        };
        if let Err(e) = &result {
            tracing::debug!(error = %e, "request not authenticated");
        }
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(ttl: u64) -> Authenticator {
        Authenticator::new(&AuthSettings {
            jwt_secret: "0123456789abcdef0123456789abcdef".to_string().into(),
            token_ttl_seconds: ttl,
            api_key: "key".to_string().into(),
        })
        .unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let auth = authenticator(60);
        let user = Uuid::now_v7();
        let (token, ttl) = auth.issue(user, Role::Admin).unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.role, ttl), (user, Role::Admin, 60));
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_rejected() {
        let auth = authenticator(60);
        let (token, _) = auth.issue(Uuid::now_v7(), Role::User).unwrap();
        let mut tampered = token.clone();
        tampered.pop();
        assert!(auth.verify(&tampered).is_err());
        let other = Authenticator::new(&AuthSettings {
            jwt_secret: "another-secret-another-secret-!!".to_string().into(),
            token_ttl_seconds: 60,
            api_key: "key".to_string().into(),
        })
        .unwrap();
        assert!(other.verify(&token).is_err());
        let claims = Claims {
            sub: Uuid::now_v7(),
            role: Role::User,
            iss: ISSUER.into(),
            iat: 0,
            exp: Utc::now().timestamp() - 60,
        };
        let expired = jsonwebtoken::encode(&Header::default(), &claims, &auth.encoding).unwrap();
        assert!(auth.verify(&expired).is_err());
    }

    #[test]
    fn short_secrets_are_refused_at_start_up() {
        let settings = AuthSettings {
            jwt_secret: "short".to_string().into(),
            token_ttl_seconds: 60,
            api_key: "key".to_string().into(),
        };
        assert!(Authenticator::new(&settings).is_err());
    }

    #[test]
    fn access_rules() {
        let me = Uuid::now_v7();
        let user = Caller::User {
            id: me,
            role: Role::User,
        };
        let admin = Caller::User {
            id: Uuid::now_v7(),
            role: Role::Admin,
        };
        assert!(user.require_self_or_privileged(me).is_ok());
        assert!(user.require_self_or_privileged(Uuid::now_v7()).is_err());
        assert!(admin.require_self_or_privileged(me).is_ok());
        assert!(Caller::Service.require_self_or_privileged(me).is_ok());
        assert!(user.require_admin().is_err());
        assert!(Caller::Service.require_admin().is_err());
        assert!(admin.require_admin().is_ok());
    }
}
