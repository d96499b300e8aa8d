//! Analytics' own metrics (beside the shared HTTP and Kafka ones).
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use shared::metrics::{register, LATENCY_BUCKETS};

/// Pipeline metrics.
#[derive(Clone)]
pub struct AnalyticsMetrics {
    pub flush_duration: Histogram,
    /// Events counted (`applied`) or skipped as already counted (`skipped`).
    pub events: IntCounterVec,
}

impl AnalyticsMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            flush_duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("analytics_flush_duration_seconds", "Duration of a flush")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            events: register(
                registry,
                IntCounterVec::new(
                    Opts::new("analytics_events_total", "Events by outcome"),
                    &["outcome"],
                )?,
            )?,
        })
    }
}
