//! Postgres access of analytics: writing a flush's increments and reading statistics.
pub mod stats;
