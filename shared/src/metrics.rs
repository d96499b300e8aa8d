//! Prometheus metrics. Each application owns one [`prometheus::Registry`] (so several apps can
//! run in one test process); the metric families shared by all services are defined here once.
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// A registry with the process collector (CPU, memory, open files) already registered.
pub fn new_registry(service: &str) -> anyhow::Result<Registry> {
    let labels = std::iter::once(("service".to_string(), service.to_string())).collect();
    let registry = Registry::new_custom(None, Some(labels))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// Registers `collector` and hands it back, so metric structs are built in one expression.
pub fn register<C>(registry: &Registry, collector: C) -> prometheus::Result<C>
where
    C: prometheus::core::Collector + Clone + 'static,
{
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// Latency buckets for HTTP handlers and Kafka deliveries: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request counts and latencies, labelled by route template (never the raw path).
#[derive(Clone)]
pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
}

impl HttpMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new("http_requests_total", "HTTP requests answered"),
                    &["method", "route", "status"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["method", "route"],
                )?,
            )?,
            in_flight: register(
                registry,
                IntGauge::new("http_requests_in_flight", "HTTP requests being served")?,
            )?,
        })
    }
}

/// Producer side of Kafka: deliveries and their latency per topic.
#[derive(Clone)]
pub struct ProducerMetrics {
    pub produced: IntCounterVec,
    pub delivery_duration: HistogramVec,
}

impl ProducerMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            produced: register(
                registry,
                IntCounterVec::new(
                    Opts::new("kafka_produced_total", "Messages produced, by delivery result"),
                    &["topic", "result"],
                )?,
            )?,
            delivery_duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "kafka_delivery_duration_seconds",
                        "Time from send to broker acknowledgement",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["topic"],
                )?,
            )?,
        })
    }
}

/// Consumer side of Kafka: outcomes, handler latency, retries and lag per partition.
#[derive(Clone)]
pub struct ConsumerMetrics {
    /// Messages finished, by outcome: `handled` or `dead_lettered`.
    pub consumed: IntCounterVec,
    pub handler_duration: HistogramVec,
    /// Handler or dead-letter attempts that failed and will be retried.
    pub retries: IntCounterVec,
    /// High watermark minus committed offset, per assigned partition.
    pub lag: IntGaugeVec,
}

impl ConsumerMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            consumed: register(
                registry,
                IntCounterVec::new(
                    Opts::new("kafka_consumed_total", "Messages consumed, by outcome"),
                    &["topic", "outcome"],
                )?,
            )?,
            handler_duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "kafka_handler_duration_seconds",
                        "Time the handler actor took per message",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["topic"],
                )?,
            )?,
            retries: register(
                registry,
                IntCounterVec::new(
                    Opts::new("kafka_consumer_retries_total", "Failed attempts that are retried"),
                    &["topic"],
                )?,
            )?,
            lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("kafka_consumer_lag", "Messages not yet committed, per partition"),
                    &["topic", "partition"],
                )?,
            )?,
        })
    }
}

/// The batching pipeline's partitions (`shared::pipeline`): buffered events, flushes, pauses.
#[derive(Clone)]
pub struct PipelineMetrics {
    /// Events waiting in each partition's buffer for the next flush.
    pub buffered: IntGaugeVec,
    pub flush_duration: prometheus::Histogram,
    /// Failed flushes, by reason: `fenced` (another owner moved the offset), `rejected` (a store
    /// refused an event that was not isolated: no dead-letter writer yet) or `error`.
    pub flush_failures: IntCounterVec,
    /// Events a store rejected (or whose flush panicked), isolated and dead-lettered, by topic.
    pub dead_lettered: IntCounterVec,
    /// Partitions whose fetching is paused because their buffer is full.
    pub paused: IntGauge,
}

impl PipelineMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            buffered: register(
                registry,
                IntGaugeVec::new(
                    Opts::new("aggregator_buffered_events", "Events awaiting the next flush"),
                    &["topic", "partition"],
                )?,
            )?,
            flush_duration: register(
                registry,
                prometheus::Histogram::with_opts(
                    HistogramOpts::new("aggregator_flush_duration_seconds", "Duration of a flush")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            flush_failures: register(
                registry,
                IntCounterVec::new(
                    Opts::new("aggregator_flush_failures_total", "Failed flushes"),
                    &["reason"],
                )?,
            )?,
            dead_lettered: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "aggregator_dead_lettered_total",
                        "Events a store rejected, isolated from their batch and dead-lettered",
                    ),
                    &["topic"],
                )?,
            )?,
            paused: register(
                registry,
                IntGauge::new(
                    "aggregator_paused_partitions",
                    "Partitions not fetched because their buffer is full",
                )?,
            )?,
        })
    }
}
