//! Consumes every topic, keeps co-interaction counts in actors and serves recommendations;
//! `model` is the algorithm and `evaluation` measures it offline.
pub mod configuration;
pub mod evaluation;
pub mod migration;
pub mod model;
pub mod routes;
pub mod startup;
