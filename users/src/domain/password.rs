//! Passwords: length rules, argon2id hashing and verification.
use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Longest accepted password (hashing cost grows with length).
const MAX_LENGTH: usize = 1024;

/// A password that satisfies the length rules. Never logged (`SecretString`).
pub struct Password(SecretString);

impl Password {
    /// At least `min_length` and at most 1024 characters.
    pub fn parse(raw: String, min_length: usize) -> Result<Self, String> {
        let length = raw.chars().count();
        if length < min_length {
            return Err(format!("must be at least {min_length} characters"));
        }
        if length > MAX_LENGTH {
            return Err(format!("must be at most {MAX_LENGTH} characters"));
        }
        Ok(Self(raw.into()))
    }

    /// The argon2id PHC string (salted, with its parameters). CPU-heavy: runs off the
    /// async threads.
    pub async fn hash(self) -> anyhow::Result<String> {
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            hasher()
                .hash_password(self.0.expose_secret().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .await
        .context("Password hashing task failed")?
        .context("Failed to hash the password")
    }
}

/// Checks `candidate` against a stored PHC string. Without a stored hash (unknown e-mail) a
/// fixed dummy hash is checked instead, so both cases take the same time.
pub async fn verify(candidate: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("{e}"))?;
        let matches = hasher()
            .verify_password(candidate.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .context("Password verification task failed")?
}

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id hash of a random password nobody knows, with the same parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0sE6q1d2WJ1b8m6XUPR8YwIrfyKf4Cx1pqyAlhVxw1M";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(Password::parse("short".into(), 10).is_err());
        assert!(Password::parse("long enough!".into(), 10).is_ok());
        assert!(Password::parse("x".repeat(1025), 10).is_err());
        // Characters, not bytes.
        assert!(Password::parse("éééééééééé".into(), 10).is_ok());
    }

    #[tokio::test]
    async fn hashes_verify_only_with_the_right_password() {
        let hash = Password::parse("correct horse".into(), 10)
            .unwrap()
            .hash()
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse".to_string().into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse!".to_string().into(), Some(hash))
            .await
            .unwrap());
        assert!(!verify("correct horse".to_string().into(), None).await.unwrap());
    }
}
