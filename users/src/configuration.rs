//! The users service's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
use secrecy::SecretString;
use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::configuration::{config_dir, load, CommonSettings};
use shared::outbox::OutboxSettings;

/// Everything the service reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// application, database, redis and kafka sections.
    #[serde(flatten)]
    pub common: CommonSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub users: UsersSettings,
    #[serde(default)]
    pub outbox: OutboxSettings,
}

/// The operator account created (or promoted to admin) at start-up when both are set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdminSettings {
    pub email: Option<String>,
    pub password: Option<SecretString>,
}

/// Rules of the users API.
#[derive(Debug, Clone, Deserialize)]
pub struct UsersSettings {
    /// Largest batch accepted by `POST /users/{id}/actions`.
    #[serde(default = "default_max_actions")]
    pub max_actions_per_request: usize,
    /// Shortest accepted password, in characters.
    #[serde(default = "default_min_password")]
    pub min_password_length: usize,
    /// How long a login session lasts without a new login (its refresh tokens rotate inside it).
    #[serde(default = "default_session_ttl")]
    pub session_ttl_seconds: u64,
    /// Abuse limits (logins, registrations, password hashes, actions).
    #[serde(default)]
    pub limits: crate::domain::limits::LimitSettings,
    /// Users remembered as existing, so that ingesting an action for them needs no query.
    #[serde(default = "default_known_users")]
    pub known_users_capacity: usize,
}

fn default_max_actions() -> usize {
    500
}
fn default_known_users() -> usize {
    100_000
}
fn default_min_password() -> usize {
    10
}
fn default_session_ttl() -> u64 {
    30 * 24 * 3600
}

impl Default for UsersSettings {
    fn default() -> Self {
        Self {
            max_actions_per_request: default_max_actions(),
            min_password_length: default_min_password(),
            session_ttl_seconds: default_session_ttl(),
            known_users_capacity: default_known_users(),
            limits: Default::default(),
        }
    }
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
