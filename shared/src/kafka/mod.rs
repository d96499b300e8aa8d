//! Kafka: an idempotent producer, a consumer actor with at-least-once offset discipline and a
//! dead-letter topic, topic administration and a readiness probe.
pub mod admin;
pub mod consumer;
pub mod feed;
pub mod producer;

use rdkafka::ClientConfig;

use crate::configuration::KafkaSettings;

/// The settings every client of this service shares.
pub fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        // Fail fast on an unknown broker address instead of retrying name resolution forever.
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "4");
    config
}
