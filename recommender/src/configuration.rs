//! The recommender's settings: `configuration/*.yaml` plus `APP_<SECTION>__<KEY>` overrides.
use serde::Deserialize;
use shared::auth::AuthSettings;
use shared::configuration::{config_dir, load, CommonSettings};
use shared::events::action::ActionKind;

use crate::model::ModelParams;

/// Everything the service reads at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// application, database, redis and kafka sections.
    #[serde(flatten)]
    pub common: CommonSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub recommender: RecommenderSettings,
}

/// The pipeline and the algorithm.
#[derive(Debug, Clone, Deserialize)]
pub struct RecommenderSettings {
    /// How often aggregators flush (counts, lists and offsets in one transaction).
    #[serde(default = "default_flush_interval")]
    pub flush_interval_ms: u64,
    /// Items stored per user list (the API's `limit` is at most this).
    #[serde(default = "default_list_length")]
    pub list_length: usize,
    /// Lifetime of cached lists in Redis (a flush rewrites them anyway).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u64,
    /// Half-life of product popularity.
    #[serde(default = "default_half_life")]
    pub popularity_half_life_hours: f64,
    #[serde(default)]
    pub weights: ActionWeights,
    /// Actions after which a product is not recommended to the user again (purchase always).
    #[serde(default = "default_exclude_after")]
    pub exclude_after: Vec<ActionKind>,
    /// How long applied event ids are remembered for deduplication.
    #[serde(default = "default_retention")]
    pub processed_event_retention_hours: u64,
    /// Lists each instance keeps in process in front of Redis (0 = none); kept coherent by
    /// invalidation messages (see `cache.rs`).
    #[serde(default = "default_local_cache_capacity")]
    pub local_cache_capacity: usize,
    /// Lists older than this are rebuilt from the current counts (0 = never), so what other
    /// users do reaches a list even while its own user does nothing.
    #[serde(default = "default_list_refresh_after")]
    pub list_refresh_after_seconds: u64,
    /// How many stale lists a sweep (one per second) rebuilds at most.
    #[serde(default = "default_list_refresh_batch")]
    pub list_refresh_batch: u64,
    /// How often the replica reads delta records other instances committed (its own are
    /// applied at once).
    #[serde(default = "default_replica_poll_ms")]
    pub replica_poll_ms: u64,
    /// How often the model state is written as a snapshot (0 = never; start-up then reads
    /// every delta record).
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval_seconds: u64,
    /// Events a partition buffers at most before its fetching is paused until a flush drains
    /// it (a partition whose flushes fail or lag never stalls the others).
    #[serde(default = "default_max_buffered_events")]
    pub max_buffered_events: usize,
    /// Users' sequences each partition aggregator keeps in memory at most; the longest idle
    /// are dropped beyond it (they are stored, and loaded again at the user's next event).
    #[serde(default = "default_sequences_in_memory")]
    pub sequences_in_memory: usize,
    /// How long delta records stay after a snapshot covers them (a replica lagging less than
    /// this keeps applying records; one lagging more reloads from the snapshot).
    #[serde(default = "default_delta_retention")]
    pub delta_retention_seconds: u64,
    /// Model parameters; the defaults are the ones measured in docs/evaluation.md.
    #[serde(default)]
    pub model: ModelParams,
}

/// How much each action says about interest.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionWeights {
    pub view: f64,
    pub click: f64,
    pub add_to_cart: f64,
    pub purchase: f64,
    /// A rating of `v` stars weighs `v × rate_per_star`.
    pub rate_per_star: f64,
}

impl Default for ActionWeights {
    fn default() -> Self {
        Self {
            view: 1.0,
            click: 2.0,
            add_to_cart: 3.0,
            purchase: 5.0,
            rate_per_star: 1.0,
        }
    }
}

impl ActionWeights {
    /// The weight of one action (`value` is the rating for `rate`).
    pub fn of(&self, action: ActionKind, value: Option<f64>) -> f64 {
        match action {
            ActionKind::View => self.view,
            ActionKind::Click => self.click,
            ActionKind::AddToCart => self.add_to_cart,
            ActionKind::Purchase => self.purchase,
            ActionKind::Rate => value.unwrap_or(3.0) * self.rate_per_star,
        }
    }
}

fn default_local_cache_capacity() -> usize {
    100_000
}
fn default_replica_poll_ms() -> u64 {
    100
}
fn default_snapshot_interval() -> u64 {
    60
}
fn default_max_buffered_events() -> usize {
    200_000
}
fn default_sequences_in_memory() -> usize {
    20_000
}
fn default_delta_retention() -> u64 {
    300
}
fn default_list_refresh_after() -> u64 {
    3600
}
fn default_list_refresh_batch() -> u64 {
    200
}
fn default_flush_interval() -> u64 {
    1000
}
fn default_list_length() -> usize {
    50
}
fn default_cache_ttl() -> u64 {
    3600
}
fn default_half_life() -> f64 {
    168.0
}
fn default_retention() -> u64 {
    168
}
fn default_exclude_after() -> Vec<ActionKind> {
    vec![ActionKind::Purchase]
}

impl Default for RecommenderSettings {
    fn default() -> Self {
        Self {
            flush_interval_ms: default_flush_interval(),
            list_length: default_list_length(),
            cache_ttl_seconds: default_cache_ttl(),
            popularity_half_life_hours: default_half_life(),
            weights: ActionWeights::default(),
            exclude_after: default_exclude_after(),
            processed_event_retention_hours: default_retention(),
            local_cache_capacity: default_local_cache_capacity(),
            list_refresh_after_seconds: default_list_refresh_after(),
            list_refresh_batch: default_list_refresh_batch(),
            replica_poll_ms: default_replica_poll_ms(),
            snapshot_interval_seconds: default_snapshot_interval(),
            delta_retention_seconds: default_delta_retention(),
            sequences_in_memory: default_sequences_in_memory(),
            max_buffered_events: default_max_buffered_events(),
            model: ModelParams::default(),
        }
    }
}

impl RecommenderSettings {
    /// True if this action removes the product from the user's future lists
    /// (`recommender.exclude_after`; purchases by default, nothing if the list is empty).
    pub fn excludes(&self, action: ActionKind) -> bool {
        self.exclude_after.contains(&action)
    }
}

/// Reads the settings from the crate's `configuration/` folder (see `config_dir`).
pub fn get_configuration() -> Result<Settings, config::ConfigError> {
    load(&config_dir(env!("CARGO_MANIFEST_DIR")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_actions_exclude_a_product() {
        let mut settings = RecommenderSettings::default();
        assert!(settings.excludes(ActionKind::Purchase), "the default");
        assert!(!settings.excludes(ActionKind::View));
        settings.exclude_after = vec![];
        assert!(
            !settings.excludes(ActionKind::Purchase),
            "an empty list excludes nothing"
        );
        settings.exclude_after = vec![ActionKind::AddToCart];
        assert!(settings.excludes(ActionKind::AddToCart));
        assert!(!settings.excludes(ActionKind::Purchase));
    }
}
