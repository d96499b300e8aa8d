//! Code that two or more services share: event wire types and topic names, the Kafka producer,
//! consumer actor and dead-letter handling, telemetry, configuration, the HTTP error envelope,
//! health/readiness/metrics endpoints, database and Redis helpers, and test support.
pub mod auth;
pub mod configuration;
pub mod db;
pub mod events;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod redis_store;
pub mod retry;
pub mod secrets;
pub mod service;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
