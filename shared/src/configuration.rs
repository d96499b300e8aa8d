//! Layered configuration shared by every service:
//! `configuration/base.yaml`, then `configuration/<APP_ENVIRONMENT>.yaml` (`local` by default),
//! then environment variables `APP_<SECTION>__<KEY>` (e.g. `APP_DATABASE__PORT=5433`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The folder holding a service's YAML files: `APP_CONFIG_DIR` if set, else `configuration/`
/// in the crate (a source checkout, `manifest_dir` = `env!("CARGO_MANIFEST_DIR")`), else
/// `configuration/` in the working directory (a container image).
pub fn config_dir(manifest_dir: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("APP_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    let in_crate = Path::new(manifest_dir).join("configuration");
    if in_crate.is_dir() {
        in_crate
    } else {
        PathBuf::from("configuration")
    }
}

/// Loads a service's settings from `dir` (usually `<crate>/configuration`).
pub fn load<T: DeserializeOwned>(dir: &Path) -> Result<T, config::ConfigError> {
    let environment = std::env::var("APP_ENVIRONMENT").unwrap_or_else(|_| "local".into());
    config::Config::builder()
        .add_source(config::File::from(dir.join("base.yaml")))
        .add_source(config::File::from(dir.join(format!("{environment}.yaml"))).required(false))
        .add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        )
        .build()?
        .try_deserialize()
}

/// Where the HTTP server listens.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationSettings {
    /// Interface to bind, e.g. `127.0.0.1` or `0.0.0.0` in containers.
    pub host: String,
    /// Port to bind; 0 picks a free one (tests).
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Largest accepted JSON body, in bytes.
    #[serde(default = "default_json_limit")]
    pub json_limit_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
    /// Addresses of the reverse proxies in front of the service, comma-separated: only from
    /// them is `X-Forwarded-For` believed (for rate limits and logs). Empty: never.
    #[serde(default)]
    pub trusted_proxies: String,
}

impl ApplicationSettings {
    /// The parsed `trusted_proxies` (entries that are not addresses are refused at start-up).
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|_| anyhow::anyhow!("application.trusted_proxies: {p} is not an IP address"))
            })
            .collect()
    }
}

fn default_json_limit() -> usize {
    256 * 1024
}
fn default_shutdown_timeout() -> u64 {
    30
}

/// The service's own PostgreSQL database.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database_name: String,
    /// Upper bound of the connection pool.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a query waits for a pooled connection before failing (and `/ready` turns 503).
    #[serde(default = "default_acquire_timeout")]
    pub acquire_timeout_seconds: u64,
    /// How long start-up keeps retrying an unreachable database before giving up.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_seconds: u64,
}

fn default_max_connections() -> u32 {
    16
}
fn default_acquire_timeout() -> u64 {
    3
}
fn default_startup_timeout() -> u64 {
    60
}

impl DatabaseSettings {
    /// Connection URL of the service database.
    pub fn url(&self) -> SecretString {
        self.url_for(&self.database_name)
    }

    /// Connection URL of another database on the same server (e.g. `postgres` for admin work).
    pub fn url_for(&self, database: &str) -> SecretString {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.username,
            self.password.expose_secret(),
            self.host,
            self.port,
            database
        )
        .into()
    }
}

/// Redis, used as a cache: every key the service writes starts with `key_prefix`.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: SecretString,
    pub key_prefix: String,
    /// Per-command timeout; a slow or absent Redis must not stall requests.
    #[serde(default = "default_redis_timeout_ms")]
    pub response_timeout_ms: u64,
}

fn default_redis_timeout_ms() -> u64 {
    500
}

/// The Kafka cluster and how this service talks to it.
#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// `bootstrap.servers`, comma-separated `host:port`.
    pub brokers: String,
    /// Prepended to every topic name (empty in production; unique per test).
    #[serde(default)]
    pub topic_prefix: String,
    /// Consumer group of this service's consumers.
    pub consumer_group: String,
    /// Partitions of the topics this service creates if they are missing.
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Replication factor of topics this service creates (1 for a single broker).
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i32,
    /// How long the producer keeps trying to deliver a message before reporting failure.
    #[serde(default = "default_message_timeout_ms")]
    pub message_timeout_ms: u64,
    /// Consumer session timeout: how fast the group notices a dead member.
    #[serde(default = "default_session_timeout_ms")]
    pub session_timeout_ms: u64,
    /// How often consumers commit the offsets they stored.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// How often librdkafka reports statistics (consumer lag metrics).
    #[serde(default = "default_statistics_interval_ms")]
    pub statistics_interval_ms: u64,
    /// Static group membership (`group.instance.id`): an instance restarted under the same id
    /// (after a crash, a deploy) takes its partitions back at once instead of waiting
    /// `session_timeout_ms` for the group to notice the old member is gone. Must be unique per
    /// running instance and stable across its restarts (a pod or host name); empty: dynamic
    /// membership. A static member that stops does not leave the group: its partitions move
    /// to the others only after the session timeout.
    #[serde(default)]
    pub group_instance_id: String,
}

fn default_partitions() -> i32 {
    6
}
fn default_replication_factor() -> i32 {
    1
}
fn default_message_timeout_ms() -> u64 {
    10_000
}
fn default_session_timeout_ms() -> u64 {
    10_000
}
fn default_commit_interval_ms() -> u64 {
    1_000
}
fn default_statistics_interval_ms() -> u64 {
    5_000
}

impl KafkaSettings {
    /// The full name of a topic in this deployment.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{}", self.topic_prefix, name)
    }

    /// The logical name of a full topic name (the inverse of [`KafkaSettings::topic`]).
    pub fn logical_topic<'a>(&self, full: &'a str) -> &'a str {
        full.strip_prefix(self.topic_prefix.as_str()).unwrap_or(full)
    }

    /// The producer's delivery timeout.
    pub fn message_timeout(&self) -> Duration {
        Duration::from_millis(self.message_timeout_ms)
    }
}

/// The settings every service has; each service adds its own sections beside these.
#[derive(Debug, Clone, Deserialize)]
pub struct CommonSettings {
    pub application: ApplicationSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub kafka: KafkaSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(prefix: &str) -> KafkaSettings {
        serde_json::from_value(serde_json::json!({
            "brokers": "127.0.0.1:9092", "topic_prefix": prefix, "consumer_group": "g"
        }))
        .unwrap()
    }

    #[test]
    fn topic_names_carry_the_prefix_and_strip_back() {
        let settings = kafka("t_abc_");
        assert_eq!(settings.topic("user_actions"), "t_abc_user_actions");
        assert_eq!(settings.logical_topic("t_abc_user_actions"), "user_actions");
        assert_eq!(kafka("").topic("user_actions"), "user_actions");
    }

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let settings = kafka("");
        assert_eq!(settings.partitions, 6);
        assert_eq!(settings.message_timeout(), Duration::from_secs(10));
    }

    #[test]
    fn database_url_is_built_from_parts() {
        let db: DatabaseSettings = serde_json::from_value(serde_json::json!({
            "host": "h", "port": 5, "username": "u", "password": "p", "database_name": "d"
        }))
        .unwrap();
        assert_eq!(db.url().expose_secret(), "postgres://u:p@h:5/d");
        assert_eq!(
            db.url_for("postgres").expose_secret(),
            "postgres://u:p@h:5/postgres"
        );
    }
}
