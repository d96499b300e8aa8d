//! Backoff for retry loops that must not give up (a transient failure is retried, never skipped).
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays of 100 ms doubling up to `max`, with jitter, forever.
pub fn delays(max: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(max)
        .without_max_times()
        .with_jitter()
        .build()
}
