//! The recommender service's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
use serde::Deserialize;
use shared::configuration::{config_dir, load, CommonSettings};

/// Everything the service reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// application, database, redis and kafka sections.
    #[serde(flatten)]
    pub common: CommonSettings,
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
