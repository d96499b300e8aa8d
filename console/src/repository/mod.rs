//! Where the console's data comes from: the services' public APIs and their metrics (the
//! console has no database of its own).
pub mod metrics;
pub mod services;
