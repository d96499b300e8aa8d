//! The console's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use shared::configuration::{config_dir, load, ApplicationSettings};

/// Everything the console reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub application: ApplicationSettings,
    pub console: ConsoleSettings,
}

/// Where the services are and how the console talks to them.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    /// Base URLs (scheme, host, port) of the four services.
    pub users_url: String,
    pub products_url: String,
    pub recommender_url: String,
    pub analytics_url: String,
    /// Prometheus' base URL for the overview's charts; empty: the console samples the
    /// services' `/metrics` itself.
    #[serde(default)]
    pub prometheus_url: String,
    /// How often the console samples `/metrics` (without Prometheus).
    #[serde(default = "default_sample_interval_ms")]
    pub sample_interval_ms: u64,
    /// How much history the overview's charts show.
    #[serde(default = "default_history_minutes")]
    pub history_minutes: u64,
    /// Longest a call to a service may take before the page says it is unavailable.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Session cookies only over HTTPS (production); off for plain-HTTP development.
    #[serde(default = "default_secure_cookies")]
    pub secure_cookies: bool,
    /// The users service's ingest key the "simulate" panel posts actions with; empty turns the
    /// panel off. Only this scope: it cannot read or change accounts.
    #[serde(default)]
    pub ingest_key: SecretString,
    /// The longest the simulate panel waits for the user's list to change.
    #[serde(default = "default_simulate_wait_ms")]
    pub simulate_wait_ms: u64,
}

impl ConsoleSettings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn sample_interval(&self) -> Duration {
        Duration::from_millis(self.sample_interval_ms.max(100))
    }
    /// Samples the history holds.
    pub fn history_samples(&self) -> usize {
        let interval = self.sample_interval().as_millis().max(1) as u64;
        ((self.history_minutes * 60_000) / interval).max(2) as usize
    }
}

fn default_sample_interval_ms() -> u64 {
    2000
}
fn default_history_minutes() -> u64 {
    15
}
fn default_request_timeout_ms() -> u64 {
    2000
}
fn default_secure_cookies() -> bool {
    true
}
fn default_simulate_wait_ms() -> u64 {
    15_000
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}
