//! The recommender's own metrics (beside the shared HTTP and Kafka ones).
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use shared::metrics::{register, LATENCY_BUCKETS};

/// Pipeline and serving metrics.
#[derive(Clone)]
pub struct RecommenderMetrics {
    /// Events waiting in each partition's aggregator for the next flush.
    pub buffered: IntGaugeVec,
    pub flush_duration: Histogram,
    /// Events applied, and skipped as already applied (by offset or event id).
    pub events: IntCounterVec,
    pub flushed_users: Histogram,
    pub flush_failures: IntCounterVec,
    /// From the event's creation (Kafka timestamp) to its user's list being in Redis.
    pub freshness: Histogram,
    /// Lists served, by source (`cache`, `database`, `computed`).
    pub served: IntCounterVec,
    /// Redis commands that failed (the answer then comes from Postgres).
    pub cache_errors: IntCounter,
    /// Lists rebuilt by the stale-list sweep.
    pub stale_lists_rebuilt: IntCounter,
}

impl RecommenderMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            buffered: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("aggregator_buffered_events", "Events awaiting the next flush"),
                    &["partition"],
                )?,
            )?,
            flush_duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("aggregator_flush_duration_seconds", "Duration of a flush")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            events: register(
                registry,
                IntCounterVec::new(
                    Opts::new("aggregator_events_total", "Action events by outcome"),
                    &["outcome"],
                )?,
            )?,
            flushed_users: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("aggregator_flush_users", "Users whose lists a flush recomputed")
                        .buckets(vec![1.0, 10.0, 100.0, 1000.0, 10000.0]),
                )?,
            )?,
            flush_failures: register(
                registry,
                IntCounterVec::new(
                    Opts::new("aggregator_flush_failures_total", "Failed flushes"),
                    &["reason"],
                )?,
            )?,
            freshness: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "recommendation_freshness_seconds",
                        "Event creation to updated list in Redis",
                    )
                    .buckets(vec![0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0]),
                )?,
            )?,
            served: register(
                registry,
                IntCounterVec::new(
                    Opts::new("recommendations_served_total", "Lists served by source"),
                    &["source"],
                )?,
            )?,
            cache_errors: register(
                registry,
                IntCounter::new("recommendation_cache_errors_total", "Failed Redis commands")?,
            )?,
            stale_lists_rebuilt: register(
                registry,
                IntCounter::new(
                    "recommendation_stale_lists_rebuilt_total",
                    "Lists rebuilt by the stale-list sweep",
                )?,
            )?,
        })
    }
}
