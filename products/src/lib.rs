//! The product catalogue; publishes `product_updates`.
pub mod configuration;
pub mod migration;
pub mod routes;
pub mod startup;
