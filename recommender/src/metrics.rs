//! The recommender's own metrics (beside the shared HTTP and Kafka ones).
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use shared::metrics::register;

/// Pipeline and serving metrics.
#[derive(Clone)]
pub struct RecommenderMetrics {
    /// Events applied, and skipped as already applied (by offset or event id).
    pub events: IntCounterVec,
    pub flushed_users: Histogram,
    /// From the event's creation (Kafka timestamp) to its user's list being in Redis.
    pub freshness: Histogram,
    /// Lists served, by source (`cache`, `database`, `computed`).
    pub served: IntCounterVec,
    /// Redis commands that failed (the answer then comes from Postgres).
    pub cache_errors: IntCounter,
    /// Lists rebuilt by the stale-list sweep.
    pub stale_lists_rebuilt: IntCounter,
    pub replica: ReplicaMetrics,
}

/// The in-memory replica of the model state and what keeps it current.
#[derive(Clone)]
pub struct ReplicaMetrics {
    pub items: IntGauge,
    pub pairs: IntGauge,
    pub bytes: IntGauge,
    /// Deltas applied, by origin (`own`: this instance's flush; `database`: read back).
    pub applied: IntCounterVec,
    /// From a delta's commit to its application here (deltas read from the database).
    pub apply_delay: Histogram,
    /// 1 while applying is stopped by a record that cannot be applied (see the logs).
    pub stopped: IntGauge,
    /// Delta records not yet folded into a snapshot, and their bytes.
    pub backlog: IntGauge,
    pub backlog_bytes: IntGauge,
    /// Age of the newest snapshot (seconds since its creation; -1: none yet).
    pub snapshot_age: Gauge,
    pub snapshot_bytes: IntGauge,
    pub snapshots_written: IntCounter,
    /// Duration of the last restore (snapshot plus later deltas) at start-up or after a gap.
    pub restore_seconds: Gauge,
}

impl ReplicaMetrics {
    fn new(registry: &Registry) -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| register(registry, IntGauge::new(name, help)?);
        Ok(Self {
            items: gauge("replica_items", "Items with interactions in the replica")?,
            pairs: gauge("replica_pairs", "Pair counts held by the replica")?,
            bytes: gauge("replica_bytes", "Heap bytes held by the replica")?,
            applied: register(
                registry,
                IntCounterVec::new(
                    Opts::new("replica_deltas_applied_total", "Deltas applied to the replica"),
                    &["origin"],
                )?,
            )?,
            apply_delay: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "replica_apply_delay_seconds",
                        "Delta commit to its application by this instance",
                    )
                    .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]),
                )?,
            )?,
            stopped: gauge("replica_apply_stopped", "1 while a bad record stops the replica")?,
            backlog: gauge(
                "replica_delta_backlog",
                "Delta records not folded into a snapshot",
            )?,
            backlog_bytes: gauge(
                "replica_delta_backlog_bytes",
                "Bytes of delta records not folded into a snapshot",
            )?,
            snapshot_age: register(
                registry,
                Gauge::new("replica_snapshot_age_seconds", "Age of the newest snapshot")?,
            )?,
            snapshot_bytes: gauge("replica_snapshot_bytes", "Size of the newest snapshot")?,
            snapshots_written: register(
                registry,
                IntCounter::new("replica_snapshots_written_total", "Snapshots written here")?,
            )?,
            restore_seconds: register(
                registry,
                Gauge::new("replica_restore_seconds", "Duration of the last replica restore")?,
            )?,
        })
    }
}

impl RecommenderMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
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
            replica: ReplicaMetrics::new(registry)?,
        })
    }
}
