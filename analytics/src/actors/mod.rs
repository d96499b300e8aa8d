//! The actor pipeline: the router hands each event to its topic-partition's aggregator.
pub mod aggregator;
pub mod router;
