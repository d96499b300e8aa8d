//! The product catalogue; publishes `product_updates` through the transactional outbox.
pub mod configuration;
pub mod domain;
pub mod entity;
pub mod migration;
pub mod repository;
pub mod routes;
pub mod startup;
