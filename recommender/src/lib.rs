//! Consumes every topic, keeps co-interaction counts in actors and serves recommendations.
pub mod configuration;
pub mod migration;
pub mod routes;
pub mod startup;
