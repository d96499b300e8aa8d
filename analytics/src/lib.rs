//! Consumes every topic and serves product popularity and user activity statistics.
pub mod configuration;
pub mod migration;
pub mod routes;
pub mod startup;
