//! Who is calling: a user or admin with an access token (`Authorization: Bearer`), or a trusted
//! backend with a service key (`X-API-Key`) of one scope.
//!
//! Access tokens are short-lived EdDSA JWTs ([`keys`]): only the users service can sign them,
//! every service verifies them with public keys. Each names its session (`sid`); sessions end on
//! logout, password or role change and deletion, and every service refuses their tokens from then
//! on ([`revocation`]). Service keys carry a scope: `ingest` (post actions for any user) or `read`
//! (recommendations and analytics); none changes credentials or roles, and several keys of a
//! scope may be active at once (rotation).
pub mod keys;
pub mod revocation;

use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use keys::{Issuer, KeySet};
pub use revocation::{RevocationFeed, Revocations};

use crate::http::ApiError;

/// Header carrying a service key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// `iss` of every token, checked on verification.
const ISSUER: &str = "recplatform-users";
/// Seconds of clock skew allowed on `exp`.
const LEEWAY_SECONDS: i64 = 5;
/// Verified tokens remembered (a few hundred bytes each).
const VERIFIED_TOKENS: usize = 10_000;
/// The longest a remembered verification is trusted: a key withdrawn from the JWKS stops
/// working this late at most.
const VERIFIED_TOKEN_TRUST: Duration = Duration::from_secs(60);

/// The `auth` configuration section (the same keys in every service; each uses what it needs).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// Users service only: Ed25519 private keys, `kid=<base64 of PKCS#8 DER>` separated by
    /// commas. The first signs; all are published at `/api/v1/auth/jwks`.
    #[serde(default = "no_secret")]
    pub signing_keys: SecretString,
    /// Public keys to verify tokens with, `kid=<base64url of the 32-byte key>` (a JWK's `x`),
    /// separated by commas.
    #[serde(default)]
    pub verification_keys: String,
    /// A JWKS to verify with as well (e.g. `http://users:8081/api/v1/auth/jwks`), fetched every
    /// `jwks_refresh_seconds`: a key the users service publishes is accepted everywhere then.
    #[serde(default)]
    pub jwks_url: String,
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
    /// Lifetime of an access token; revocations are remembered this long.
    #[serde(default = "default_ttl")]
    pub access_token_ttl_seconds: u64,
    /// Keys of backends that post actions for any user (users service), comma-separated.
    #[serde(default = "no_secret")]
    pub ingest_keys: SecretString,
    /// Keys of backends that read any user's recommendations and analytics (recommender,
    /// analytics), comma-separated.
    #[serde(default = "no_secret")]
    pub read_keys: SecretString,
}

fn no_secret() -> SecretString {
    SecretString::from(String::new())
}
fn default_ttl() -> u64 {
    900
}
fn default_jwks_refresh() -> u64 {
    60
}

impl AuthSettings {
    /// The access token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_seconds)
    }
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

/// What a service key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Post actions for any user.
    Ingest,
    /// Read any user's recommendations and analytics.
    Read,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    /// The session (login) the token belongs to: ending it refuses the token everywhere.
    pub sid: Uuid,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Verifies tokens and service keys; signs tokens where a signing key is configured (users).
/// Put it in app data as `web::Data<Authenticator>`.
pub struct Authenticator {
    issuer: Option<Issuer>,
    keys: Arc<KeySet>,
    validation: Validation,
    ingest_keys: Vec<SecretString>,
    read_keys: Vec<SecretString>,
    revocations: Arc<Revocations>,
    ttl_seconds: u64,
    /// Tokens whose signature and claims verified, and when: a client repeating its token costs
    /// a lookup instead of an Ed25519 verification (most of a cached read's CPU otherwise).
    /// Expiry and revocation are still checked on every request.
    verified: quick_cache::sync::Cache<String, (Claims, Instant)>,
}

impl Authenticator {
    /// Fails on malformed keys, or when no key to verify tokens with is configured.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let issuer = Issuer::from_config(&settings.signing_keys)?;
        let keys = Arc::new(KeySet::new(&settings.verification_keys, issuer.as_ref())?);
        anyhow::ensure!(
            !keys.is_empty() || !settings.jwks_url.is_empty(),
            "no key to verify tokens with: set auth.verification_keys or auth.jwks_url"
        );
        if !settings.jwks_url.is_empty() {
            keys.refresh_from(
                settings.jwks_url.clone(),
                Duration::from_secs(settings.jwks_refresh_seconds.max(1)),
            );
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = LEEWAY_SECONDS as u64;
        Ok(Self {
            issuer,
            keys,
            validation,
            ingest_keys: split_keys(&settings.ingest_keys),
            read_keys: split_keys(&settings.read_keys),
            revocations: Arc::new(Revocations::new(settings.access_token_ttl())),
            ttl_seconds: settings.access_token_ttl_seconds,
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
        })
    }

    /// A signed access token for `user` with `role` in `session`, and its lifetime in seconds.
    /// Fails where no signing key is configured.
    pub fn issue(&self, user: Uuid, role: Role, session: Uuid) -> anyhow::Result<(String, u64)> {
        let issuer = self
            .issuer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this service holds no signing key"))?;
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            sid: session,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl_seconds as i64,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(issuer.kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, issuer.key())?;
        Ok((token, self.ttl_seconds))
    }

    /// How long an access token lives.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    /// The signing keys' public halves (`None` where this service signs nothing).
    pub fn jwks(&self) -> Option<&jsonwebtoken::jwk::JwkSet> {
        self.issuer.as_ref().map(Issuer::jwks)
    }

    /// The revocations this service applies (fed by a [`RevocationFeed`]).
    pub fn revocations(&self) -> Arc<Revocations> {
        self.revocations.clone()
    }

    /// Verifies a token's signature, issuer, expiry and session.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = match self.verified.get(token) {
            Some((claims, at))
                if at.elapsed() < VERIFIED_TOKEN_TRUST
                    && Utc::now().timestamp() <= claims.exp + LEEWAY_SECONDS =>
            {
                claims
            }
            _ => {
                let claims = self.verify_signature(token)?;
                self.verified
                    .insert(token.to_owned(), (claims.clone(), Instant::now()));
                claims
            }
        };
        if self.revocations.is_revoked(claims.sub, claims.sid) {
            return Err(AuthError::InvalidToken);
        }
        Ok(claims)
    }

    /// The token's claims if its signature, issuer and expiry hold (revocation aside).
    fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(AuthError::InvalidToken)?;
        jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| AuthError::InvalidToken)
    }

    /// The scope of a service key, if it is one.
    fn scope_of(&self, candidate: &str) -> Option<Scope> {
        let matches = |keys: &[SecretString]| {
            // Every key is compared (no early exit on a match position).
            keys.iter().fold(false, |found, key| {
                found
                    | constant_time_eq::constant_time_eq(candidate.as_bytes(), key.expose_secret().as_bytes())
            })
        };
        if matches(&self.ingest_keys) {
            Some(Scope::Ingest)
        } else if matches(&self.read_keys) {
            Some(Scope::Read)
        } else {
            None
        }
    }

    fn authenticate(&self, req: &HttpRequest) -> Result<Caller, AuthError> {
        if let Some(key) = req.headers().get(API_KEY_HEADER) {
            let key = key.to_str().map_err(|_| AuthError::InvalidApiKey)?;
            return self
                .scope_of(key)
                .map(Caller::Service)
                .ok_or(AuthError::InvalidApiKey);
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
            session: claims.sid,
        })
    }
}

/// Comma-separated keys; empty entries ignored.
pub(crate) fn split_keys(keys: &SecretString) -> Vec<SecretString> {
    keys.expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| SecretString::from(k.to_owned()))
        .collect()
}

/// The authenticated caller of a request (an extractor: a handler that takes it requires
/// credentials; without valid ones the request is answered 401 before the handler runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    User {
        id: Uuid,
        role: Role,
        /// The login session of the token.
        session: Uuid,
    },
    /// A trusted backend holding a service key of this scope.
    Service(Scope),
}

impl Caller {
    /// Admins only (no service key).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::User {
                role: Role::Admin, ..
            } => Ok(()),
            _ => Err(forbidden()),
        }
    }

    /// The user themself or an admin (account changes: never a service key).
    pub fn require_self_or_admin(&self, user: Uuid) -> Result<(), ApiError> {
        match self {
            Caller::User { id, role, .. } if *id == user || *role == Role::Admin => Ok(()),
            _ => Err(forbidden()),
        }
    }

    /// The user themself, an admin, or a service key of `scope` (e.g. reading a user's
    /// recommendations with the read key, posting their actions with the ingest key).
    pub fn require_self_or(&self, user: Uuid, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Service(granted) if *granted == scope => Ok(()),
            _ => self.require_self_or_admin(user),
        }
    }

    /// An admin or a service key of `scope` (e.g. analytics over all users with the read key).
    pub fn require_admin_or(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Service(granted) if *granted == scope => Ok(()),
            _ => self.require_admin(),
        }
    }

    /// The caller's user id, if a user.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Caller::User { id, .. } => Some(*id),
            Caller::Service(_) => None,
        }
    }

    /// True for admins.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Caller::User {
                role: Role::Admin,
                ..
            }
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
    #[error("The access token is invalid, expired or revoked.")]
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
    use base64::Engine;
    use ring::rand::SystemRandom;

    fn private_key() -> String {
        let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    }

    fn settings(signing_keys: String) -> AuthSettings {
        AuthSettings {
            signing_keys: signing_keys.into(),
            verification_keys: String::new(),
            jwks_url: String::new(),
            jwks_refresh_seconds: 60,
            access_token_ttl_seconds: 60,
            ingest_keys: "ingest-1, ingest-2".to_owned().into(),
            read_keys: "read-1".to_owned().into(),
        }
    }

    fn authenticator() -> Authenticator {
        Authenticator::new(&settings(format!("k1={}", private_key()))).unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let auth = authenticator();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, ttl) = auth.issue(user, Role::Admin, session).unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.sid, ttl),
            (user, Role::Admin, session, 60)
        );
    }

    #[test]
    fn tampered_expired_foreign_and_revoked_tokens_are_rejected() {
        let auth = authenticator();
        let session = Uuid::now_v7();
        let (token, _) = auth.issue(Uuid::now_v7(), Role::User, session).unwrap();
        let mut tampered = token.clone();
        tampered.pop();
        assert!(auth.verify(&tampered).is_err());
        // Another key under the same kid: the signature does not verify.
        let other = Authenticator::new(&settings(format!("k1={}", private_key()))).unwrap();
        assert!(other.verify(&token).is_err());
        let issuer = auth.issuer.as_ref().unwrap();
        let claims = Claims {
            sub: Uuid::now_v7(),
            role: Role::User,
            sid: Uuid::now_v7(),
            iss: ISSUER.into(),
            iat: 0,
            exp: Utc::now().timestamp() - 60,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let expired = jsonwebtoken::encode(&header, &claims, issuer.key()).unwrap();
        assert!(auth.verify(&expired).is_err());
        // HS256 with the public key as the secret (algorithm confusion) is refused.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"k1"),
        )
        .unwrap();
        assert!(auth.verify(&hs).is_err());
        assert!(auth.verify(&token).is_ok());
        assert!(auth.verify(&token).is_ok(), "verified again from memory");
        auth.revocations().end_sessions(&[session]);
        assert!(
            auth.verify(&token).is_err(),
            "an ended session's token, though remembered"
        );
    }

    #[test]
    fn services_without_a_signing_key_verify_but_cannot_sign() {
        let auth = authenticator();
        let x = match &auth.jwks().unwrap().keys[0].algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
            other => panic!("{other:?}"),
        };
        let mut reader = settings(String::new());
        reader.verification_keys = format!("k1={x}");
        let reader = Authenticator::new(&reader).unwrap();
        let (token, _) = auth.issue(Uuid::now_v7(), Role::User, Uuid::now_v7()).unwrap();
        assert!(reader.verify(&token).is_ok());
        assert!(reader.issue(Uuid::now_v7(), Role::Admin, Uuid::now_v7()).is_err());
        assert!(
            Authenticator::new(&settings(String::new())).is_err(),
            "nothing to verify with"
        );
    }

    #[test]
    fn service_keys_have_scopes_and_rotate() {
        let auth = authenticator();
        assert_eq!(auth.scope_of("ingest-1"), Some(Scope::Ingest));
        assert_eq!(auth.scope_of("ingest-2"), Some(Scope::Ingest));
        assert_eq!(auth.scope_of("read-1"), Some(Scope::Read));
        assert_eq!(auth.scope_of("read-2"), None);
        assert_eq!(auth.scope_of(""), None);
    }

    #[test]
    fn access_rules() {
        let me = Uuid::now_v7();
        let user = Caller::User {
            id: me,
            role: Role::User,
            session: Uuid::now_v7(),
        };
        let admin = Caller::User {
            id: Uuid::now_v7(),
            role: Role::Admin,
            session: Uuid::now_v7(),
        };
        let (ingest, read) = (Caller::Service(Scope::Ingest), Caller::Service(Scope::Read));
        assert!(user.require_self_or_admin(me).is_ok());
        assert!(user.require_self_or_admin(Uuid::now_v7()).is_err());
        assert!(admin.require_self_or_admin(me).is_ok());
        assert!(
            ingest.require_self_or_admin(me).is_err(),
            "no key changes accounts"
        );
        assert!(ingest.require_self_or(me, Scope::Ingest).is_ok());
        assert!(read.require_self_or(me, Scope::Ingest).is_err());
        assert!(read.require_self_or(me, Scope::Read).is_ok());
        assert!(read.require_admin_or(Scope::Read).is_ok());
        assert!(ingest.require_admin_or(Scope::Read).is_err());
        assert!(user.require_admin().is_err() && read.require_admin().is_err());
        assert!(admin.require_admin().is_ok());
    }
}
