//! Analytics' own metrics (beside the shared HTTP and Kafka ones).
use prometheus::{IntCounterVec, Opts, Registry};
use shared::metrics::register;

/// Pipeline metrics (flushes themselves are measured by `shared::metrics::PipelineMetrics`).
#[derive(Clone)]
pub struct AnalyticsMetrics {
    /// Events counted (`applied`) or skipped as already counted (`skipped`).
    pub events: IntCounterVec,
}

impl AnalyticsMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
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
