//! Accounts, authentication, profiles and user actions; publishes `user_updates` (through the
//! transactional outbox) and `user_actions` (acknowledged before answering).
pub mod configuration;
pub mod domain;
pub mod entity;
pub mod migration;
pub mod repository;
pub mod routes;
pub mod startup;
