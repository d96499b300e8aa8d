//! Consumes every topic, keeps co-interaction counts in per-partition actors and serves
//! recommendations; `model` is the algorithm (shared with the offline `evaluation`).
pub mod configuration;
pub mod consumers;
pub mod domain;
pub mod evaluation;
pub mod metrics;
pub mod migration;
pub mod model;
pub mod replication;
pub mod repository;
pub mod routes;
pub mod startup;
#[cfg(feature = "test-support")]
pub mod testing;
