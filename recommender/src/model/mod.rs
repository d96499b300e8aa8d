//! The recommendation model, shared by the service and the offline evaluator: per-user
//! interaction sequences produce item-to-item co-interaction counts (weighted by how close and in
//! which direction two interactions are in the user's own sequence); similarities normalise the
//! counts by item popularity; a user's score for an item sums the similarities of the user's
//! recent items, weighted by recency.
//!
//! Everything here is pure and deterministic, and every count is a sum of per-event increments,
//! so it can be maintained incrementally from the event stream and merged across partitions.
pub mod aggregator;
pub mod delta;
pub mod params;
pub mod popularity;
pub mod replica;
pub mod score;
pub mod sequence;

pub use params::ModelParams;

/// A dense item index (the service maps product ids to these).
pub type Item = u32;
