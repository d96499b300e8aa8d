//! Kafka consumers: `catalogue` (product_updates, user_updates: every instance reads all) and
//! the `user_actions` pipeline (group `kafka.consumer_group`, see `actors`).
pub mod catalogue;
