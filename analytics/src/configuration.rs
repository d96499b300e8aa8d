//! The analytics service's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::configuration::{config_dir, load, CommonSettings};

/// Everything the service reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// application, database, redis and kafka sections.
    #[serde(flatten)]
    pub common: CommonSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub analytics: AnalyticsSettings,
}

/// The pipeline.
#[derive(Debug, Clone, Deserialize)]
pub struct AnalyticsSettings {
    /// How often aggregators flush (statistics and offsets in one transaction).
    #[serde(default = "default_flush_interval")]
    pub flush_interval_ms: u64,
    /// Raw events older than this (by occurrence) are deleted.
    #[serde(default = "default_raw_retention")]
    pub raw_retention_days: u32,
    /// Minute and hour buckets of the statistics, and the per-user rows behind unique-user
    /// counts, older than this are deleted (never below 31: the longest window reaches 30 days).
    #[serde(default = "default_bucket_retention")]
    pub bucket_retention_days: u32,
    /// How long applied event ids are remembered for deduplication.
    #[serde(default = "default_processed_retention")]
    pub processed_event_retention_hours: u64,
    /// Lifetime of cached answers (a flush invalidates them anyway).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u64,
    /// Events a partition buffers at most before its fetching is paused until a flush drains
    /// it (a partition whose flushes fail or lag never stalls the others).
    #[serde(default = "default_max_buffered_events")]
    pub max_buffered_events: usize,
}

fn default_max_buffered_events() -> usize {
    200_000
}

fn default_raw_retention() -> u32 {
    90
}
fn default_bucket_retention() -> u32 {
    31
}
fn default_processed_retention() -> u64 {
    168
}
fn default_cache_ttl() -> u64 {
    300
}

fn default_flush_interval() -> u64 {
    1000
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        Self {
            flush_interval_ms: default_flush_interval(),
            raw_retention_days: default_raw_retention(),
            bucket_retention_days: default_bucket_retention(),
            processed_event_retention_hours: default_processed_retention(),
            cache_ttl_seconds: default_cache_ttl(),
            max_buffered_events: default_max_buffered_events(),
        }
    }
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
