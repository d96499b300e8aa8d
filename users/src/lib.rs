//! Accounts, authentication, profiles and user actions; publishes `user_updates` and `user_actions`.
pub mod configuration;
pub mod migration;
pub mod routes;
pub mod startup;
