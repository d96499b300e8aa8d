//! The products service's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
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
    pub outbox: OutboxSettings,
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
