//! Test support (feature `test-support`): every test gets its own database, topic prefix,
//! consumer group and Redis key prefix, so tests run in parallel against one real Postgres,
//! Kafka and Redis without seeing each other. A test that cannot reach one of them panics with
//! a message that says how to start it.
//!
//! By job: `isolation` (a test's own names and the infrastructure they need), `kafka` (reading
//! what was published), `proxy` (taking a dependency away from one app), `tokens`, `ops` (the
//! operational-endpoint assertions and their test macro), `process` (service binaries and apps
//! on background threads) and `system` (the whole system for the system tests).
mod isolation;
mod kafka;
pub mod ops;
mod process;
mod proxy;
pub mod system;
mod tokens;

use std::time::Duration;

pub use isolation::{
    create_database, create_topics, isolate, local_settings, require_redis, unique_id, Isolation,
};
pub use kafka::{header, read_events, read_events_until, read_messages, read_messages_until};
pub use process::{flushed_offsets, start_in_background, ServiceProcess};
pub use proxy::{flaky_kafka, TcpProxy};
pub use tokens::{dev_token, dev_token_in, DEV_SIGNING_KEYS};

const START_INFRA: &str = "start it with `scripts/infra up` (scripts/test does this for you)";

/// Polls `condition` every 50 ms until it holds, or panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
