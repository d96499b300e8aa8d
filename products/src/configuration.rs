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
    #[serde(default)]
    pub products: ProductsSettings,
}

/// Rules of the products API.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductsSettings {
    /// Products kept in memory as their JSON answer.
    #[serde(default = "default_read_cache_capacity")]
    pub read_cache_capacity: usize,
    /// How long a remembered product is served at most. Changes made through other replicas
    /// arrive by the product feed within milliseconds; this bounds them only while the feed is
    /// behind (Kafka unreachable). 0 turns the cache off.
    #[serde(default = "default_read_cache_ttl_ms")]
    pub read_cache_ttl_ms: u64,
}

fn default_read_cache_capacity() -> usize {
    100_000
}

fn default_read_cache_ttl_ms() -> u64 {
    10_000
}

impl Default for ProductsSettings {
    fn default() -> Self {
        Self {
            read_cache_capacity: default_read_cache_capacity(),
            read_cache_ttl_ms: default_read_cache_ttl_ms(),
        }
    }
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
