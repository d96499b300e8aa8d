//! A test's own names (database, topic prefix, consumer group, Redis key prefix) and the
//! infrastructure behind them, created on demand.
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::START_INFRA;
use crate::configuration::{CommonSettings, DatabaseSettings, KafkaSettings, RedisSettings};
use crate::events::topics;
use crate::kafka::admin::ensure_topics;

/// The names one test got.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub id: String,
    pub database_name: String,
}

/// A short random id for names (databases, topics, groups, key prefixes).
pub fn unique_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Points `settings` at fresh, private resources and creates them: database `test_<id>`, topics
/// `t_<id>_*` (3 partitions), consumer group `g_<id>`, Redis prefix `test:<id>:`, HTTP port 0.
pub async fn isolate(settings: &mut CommonSettings) -> Isolation {
    crate::telemetry::init_for_tests();
    let id = unique_id();
    settings.application.host = "127.0.0.1".into();
    settings.application.port = 0;
    settings.database.database_name = format!("test_{id}");
    settings.database.startup_timeout_seconds = 5;
    settings.redis.key_prefix = format!("test:{id}:");
    settings.kafka.topic_prefix = format!("t_{id}_");
    settings.kafka.consumer_group = format!("g_{id}");
    settings.kafka.partitions = 3;
    settings.kafka.session_timeout_ms = 6_000;
    settings.kafka.commit_interval_ms = 200;
    settings.kafka.statistics_interval_ms = 1_000;
    create_database(&settings.database).await;
    require_redis(&settings.redis).await;
    create_topics(&settings.kafka).await;
    Isolation {
        database_name: settings.database.database_name.clone(),
        id,
    }
}

/// Creates the (empty) database named in `settings`.
pub async fn create_database(settings: &DatabaseSettings) {
    let admin = Database::connect(settings.url_for("postgres").expose_secret())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {}:{} is not reachable ({e}); {START_INFRA}",
                settings.host, settings.port
            )
        });
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{}""#, settings.database_name))
        .await
        .unwrap_or_else(|e| panic!("could not create test database {}: {e}", settings.database_name));
    let _ = admin.close().await;
}

/// Fails the test unless Redis answers.
pub async fn require_redis(settings: &RedisSettings) {
    let store = crate::redis_store::RedisStore::connect_lazy(settings).expect("valid Redis URL");
    if let Err(e) = store.ping().await {
        panic!(
            "Redis at {} is not reachable ({e:#}); {START_INFRA}",
            settings.url.expose_secret()
        );
    }
}

/// Creates the system's topics (and dead-letter topics) under the test's prefix.
pub async fn create_topics(settings: &KafkaSettings) {
    let created = tokio::time::timeout(Duration::from_secs(30), ensure_topics(settings, &topics::ALL)).await;
    match created {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "Kafka at {} refused the test topics ({e:#}); {START_INFRA}",
            settings.brokers
        ),
        Err(_) => panic!("Kafka at {} is not reachable; {START_INFRA}", settings.brokers),
    }
}

/// Settings for the local infrastructure that `scripts/infra up` starts (the same addresses
/// as the services' `configuration/base.yaml`), for tests of this crate.
pub fn local_settings() -> CommonSettings {
    serde_json::from_value(serde_json::json!({
        "application": {"host": "127.0.0.1", "port": 0},
        "database": {
            "host": "127.0.0.1", "port": 5432, "username": "app", "password": "app",
            "database_name": "unused"
        },
        "redis": {"url": "redis://127.0.0.1:6379", "key_prefix": "unused:"},
        "kafka": {"brokers": "127.0.0.1:9092", "consumer_group": "unused"}
    }))
    .expect("valid local settings")
}
