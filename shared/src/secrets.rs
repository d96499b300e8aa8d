//! Production never runs with a development secret: with `APP_ENVIRONMENT=production` a service
//! refuses to start while any secret it holds is one this repository ships (in
//! `configuration/*.yaml`, its examples or its history) or is too short to resist guessing.
//! `scripts/secrets` writes real ones for compose.
use secrecy::{ExposeSecret, SecretString};

use crate::auth::AuthSettings;
use crate::configuration::CommonSettings;

/// Values published in this repository: anyone can read them.
const PUBLISHED: &[&str] = &[
    "app",
    "postgres",
    "password",
    "local-admin-password",
    "local-development-ingest-key",
    "local-development-read-key",
    "local-development-api-key",
    "local-development-jwt-secret-change-me-0123456789",
    "change-me-postgres",
    "change-me-admin-password",
    "change-me-grafana",
    "change-me-api-key",
    "change-me-to-a-long-random-secret-0123456789",
    // The development Ed25519 key pair (users/configuration/base.yaml).
    "MC4CAQAwBQYDK2VwBCIEIOC97OxrqW3LEwmAt9gU8dfvXiFzi5lTIPHqtrU40qhW",
    "ZXF4FYlxn0xmRq6Jtw5yBefNRhLRtPCjtGPgzGdkHy8",
];

/// Shortest password accepted in production.
const MIN_PASSWORD: usize = 16;
/// Shortest service key accepted in production.
const MIN_KEY: usize = 32;

/// The environment the configuration was loaded for (`APP_ENVIRONMENT`, `local` by default).
pub fn environment() -> String {
    std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into())
}

/// What is wrong with the secrets a service holds, for production: empty when nothing.
#[derive(Debug, Default)]
pub struct Findings(Vec<String>);

impl Findings {
    /// A password (database, admin): not published, at least 16 characters.
    pub fn password(&mut self, name: &str, value: &SecretString) -> &mut Self {
        self.value(name, value.expose_secret(), MIN_PASSWORD)
    }

    /// Comma-separated service keys: each unpublished and at least 32 characters.
    pub fn keys(&mut self, name: &str, value: &SecretString) -> &mut Self {
        for key in crate::auth::split_keys(value) {
            self.value(name, key.expose_secret(), MIN_KEY);
        }
        self
    }

    /// Named token keys (`kid=value`): no published value. (A malformed list is refused by the
    /// authenticator itself.)
    pub fn token_keys(&mut self, name: &str, value: &str) -> &mut Self {
        for (_, key) in crate::auth::keys::named(value).unwrap_or_default() {
            if PUBLISHED.contains(&key.as_str()) {
                self.0.push(format!("{name} holds the development key"));
            }
        }
        self
    }

    /// The `auth` section.
    pub fn auth(&mut self, auth: &AuthSettings) -> &mut Self {
        self.token_keys("auth.signing_keys", auth.signing_keys.expose_secret())
            .token_keys("auth.verification_keys", &auth.verification_keys)
            .keys("auth.ingest_keys", &auth.ingest_keys)
            .keys("auth.read_keys", &auth.read_keys)
    }

    /// The database password, and that Redis is reached with one.
    pub fn common(&mut self, common: &CommonSettings) -> &mut Self {
        let redis = common.redis.url.expose_secret();
        let authenticated = redis
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .is_some_and(|(credentials, _)| credentials.trim_start_matches(':').len() >= MIN_PASSWORD);
        if !authenticated {
            self.0
                .push("redis.url carries no password of at least 16 characters".into());
        }
        self.password("database.password", &common.database.password)
    }

    fn value(&mut self, name: &str, value: &str, min: usize) -> &mut Self {
        if PUBLISHED.contains(&value) {
            self.0.push(format!(
                "{name} is a development value published in this repository"
            ));
        } else if value.chars().count() < min {
            self.0.push(format!("{name} is shorter than {min} characters"));
        }
        self
    }

    /// In production, fails naming every finding (never the values); elsewhere, logs them.
    pub fn enforce(&self, environment: &str) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        if environment == "production" {
            anyhow::bail!(
                "refusing to start in production with weak or development secrets: {} (scripts/secrets writes real ones)",
                self.0.join("; ")
            );
        }
        tracing::warn!(findings = %self.0.join("; "), environment, "development secrets in use (refused in production)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        value.to_owned().into()
    }

    #[test]
    fn published_and_short_values_are_refused_in_production_only() {
        let mut findings = Findings::default();
        findings
            .password("database.password", &secret("app"))
            .password("admin.password", &secret("short"))
            .keys(
                "auth.read_keys",
                &secret("local-development-read-key, an-acceptable-key-of-forty-characters-ok"),
            )
            .token_keys(
                "auth.verification_keys",
                "dev=ZXF4FYlxn0xmRq6Jtw5yBefNRhLRtPCjtGPgzGdkHy8",
            );
        assert_eq!(findings.0.len(), 4, "{:?}", findings.0);
        assert!(findings.enforce("local").is_ok());
        let refused = findings.enforce("production").unwrap_err().to_string();
        assert!(
            refused.contains("database.password") && !refused.contains("ZXF4"),
            "{refused}"
        );
        let mut strong = Findings::default();
        strong
            .password("database.password", &secret("9f1c2e7a5b3d4c6e8a0b"))
            .keys(
                "auth.ingest_keys",
                &secret("k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,k2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
            );
        assert!(strong.enforce("production").is_ok());
    }
}
