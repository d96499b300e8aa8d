//! The actor pipeline: the router hands each `user_actions` event to its partition's aggregator.
pub mod aggregator;
pub mod router;
