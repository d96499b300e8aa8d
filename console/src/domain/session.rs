//! An operator's session: the users service's access token, kept in an HttpOnly cookie, and
//! the CSRF token every form carries.
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use uuid::Uuid;

/// Holds the access token (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "console_session";
/// Holds the CSRF token forms repeat (double submit; HttpOnly, SameSite=Strict).
pub const CSRF_COOKIE: &str = "console_csrf";

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Why a cookie is not a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session cookie is not an access token")]
    Malformed,
    #[error("the session has expired")]
    Expired,
    #[error("the console is for administrators")]
    NotAdmin,
}

/// The claims the console reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Uuid,
    role: String,
    exp: i64,
}

impl Session {
    /// The session `token` stands for at `now`. The signature is not checked here: the claims
    /// only decide when to send the operator back to the login page, and every service
    /// verifies the token on each call the console makes with it.
    pub fn from_token(token: &str, now: DateTime<Utc>) -> Result<Self, SessionError> {
        let mut validation = jsonwebtoken::Validation::default();
        validation.insecure_disable_signature_validation();
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims =
            jsonwebtoken::decode::<Claims>(token, &jsonwebtoken::DecodingKey::from_secret(&[]), &validation)
                .map_err(|_| SessionError::Malformed)?
                .claims;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(SessionError::Malformed)?;
        if expires_at <= now {
            return Err(SessionError::Expired);
        }
        if claims.role != "admin" {
            return Err(SessionError::NotAdmin);
        }
        Ok(Self {
            token: token.to_owned(),
            user_id: claims.sub,
            expires_at,
        })
    }
}

/// A fresh CSRF token: 32 random bytes, base64url.
pub fn new_csrf_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// True when a form's token is the cookie's (compared in constant time; empty never matches).
pub fn csrf_matches(cookie: Option<&str>, form: &str) -> bool {
    cookie.is_some_and(|c| !c.is_empty() && constant_time_eq::constant_time_eq(c.as_bytes(), form.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: &str, exp: i64) -> String {
        let claims = serde_json::json!({"sub": Uuid::nil(), "role": role, "exp": exp, "sid": Uuid::nil()});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"test"),
        )
        .unwrap()
    }

    #[test]
    fn an_admin_token_is_a_session_until_it_expires() {
        let now = Utc::now();
        let admin = token("admin", now.timestamp() + 60);
        let session = Session::from_token(&admin, now).unwrap();
        assert_eq!((session.user_id, session.token), (Uuid::nil(), admin.clone()));
        let later = now + chrono::TimeDelta::seconds(61);
        assert_eq!(Session::from_token(&admin, later), Err(SessionError::Expired));
    }

    #[test]
    fn users_and_garbage_are_refused() {
        let now = Utc::now();
        let user = token("user", now.timestamp() + 60);
        assert_eq!(Session::from_token(&user, now), Err(SessionError::NotAdmin));
        assert_eq!(
            Session::from_token("not.a.token", now),
            Err(SessionError::Malformed)
        );
        assert_eq!(Session::from_token("", now), Err(SessionError::Malformed));
    }

    #[test]
    fn csrf_tokens_are_random_and_must_match_the_cookie() {
        let (a, b) = (new_csrf_token().unwrap(), new_csrf_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(csrf_matches(Some(&a), &a));
        assert!(!csrf_matches(Some(&a), &b));
        assert!(!csrf_matches(None, &a));
        assert!(!csrf_matches(Some(""), ""));
    }
}
