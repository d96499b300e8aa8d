//! The web console: server-rendered pages over the four services' public APIs (never their
//! databases), for the people who run the platform.
pub mod configuration;
pub mod domain;
pub mod repository;
pub mod routes;
pub mod startup;
