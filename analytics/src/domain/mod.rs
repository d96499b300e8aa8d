//! The types analytics reasons with, between the routes and the repository.
pub mod stats;
