//! Kafka consumers: `catalogue` (product_updates, user_updates: every instance reads all) and
//! `actions`, the user_actions pipeline (group `kafka.consumer_group`, partitions split between
//! instances; the shared batching pipeline of `shared::pipeline`).
pub mod actions;
pub mod catalogue;
