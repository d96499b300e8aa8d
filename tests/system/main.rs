//! Whole-system tests: the four service binaries (built by `cargo build --bins`, which
//! `scripts/test` runs first) on one isolated set of topics, each with its own database.
mod console;
mod faults;
mod fuzz;
mod scenario;
mod security;
mod system;
mod tour;
