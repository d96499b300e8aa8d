//! The idempotent event producer: acks from all in-sync replicas, no duplicates from internal
//! retries, messages keyed by entity id (one entity's events stay in one partition, in order),
//! and every send awaits the broker's acknowledgement.
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use serde::Serialize;

use crate::configuration::KafkaSettings;
use crate::events::Envelope;
use crate::metrics::ProducerMetrics;

/// Where an acknowledged message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

/// Why a message was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("failed to serialise the event")]
    Serialise(#[source] serde_json::Error),
    /// The broker did not acknowledge in time or refused the message; safe to retry.
    #[error("Kafka did not acknowledge the message on topic {topic}")]
    Delivery {
        topic: String,
        #[source]
        source: KafkaError,
    },
}

/// A message as raw parts, for forwarding bytes that are not a valid envelope (dead letters).
pub struct RawMessage<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub headers: OwnedHeaders,
}

/// Cheap to clone; clones share one librdkafka producer.
#[derive(Clone)]
pub struct EventProducer {
    producer: FutureProducer,
    settings: KafkaSettings,
    metrics: ProducerMetrics,
}

impl EventProducer {
    /// Creates the producer (connects lazily; an unreachable broker shows on the first send).
    pub fn new(settings: &KafkaSettings, metrics: ProducerMetrics) -> Result<Self, KafkaError> {
        let producer = super::base_config(settings)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", settings.message_timeout_ms.to_string())
            .set("linger.ms", "2")
            .set("compression.type", "lz4")
            .create()?;
        Ok(Self {
            producer,
            settings: settings.clone(),
            metrics,
        })
    }

    /// Publishes `event` to the logical topic `topic`, keyed by `event.key`, and waits for the
    /// broker's acknowledgement (at most the configured message timeout). The span is at debug
    /// level: at info, one line per event was most of the work of ingesting a batch; callers log
    /// what they accepted (see the users service's actions route).
    #[tracing::instrument(level = "debug", skip(self, event), fields(event_id = %event.event_id, event_type = %event.event_type))]
    pub async fn publish<P: Serialize>(
        &self,
        topic: &str,
        event: &Envelope<P>,
    ) -> Result<Delivery, ProduceError> {
        let payload = serde_json::to_vec(event).map_err(ProduceError::Serialise)?;
        self.publish_encoded(
            topic,
            &event.key,
            &event.event_id.to_string(),
            &event.event_type,
            &payload,
        )
        .await
    }

    /// Publishes an already encoded envelope (e.g. from the outbox) to the logical `topic`.
    pub async fn publish_encoded(
        &self,
        topic: &str,
        key: &str,
        event_id: &str,
        event_type: &str,
        payload: &[u8],
    ) -> Result<Delivery, ProduceError> {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "event_id",
                value: Some(event_id),
            })
            .insert(Header {
                key: "event_type",
                value: Some(event_type),
            });
        self.send(RawMessage {
            topic: &self.settings.topic(topic),
            key: Some(key.as_bytes()),
            payload: Some(payload),
            headers,
        })
        .await
    }

    /// Sends raw bytes to a full topic name and waits for the acknowledgement.
    pub async fn send(&self, message: RawMessage<'_>) -> Result<Delivery, ProduceError> {
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(message.topic).headers(message.headers);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        if let Some(payload) = message.payload {
            record = record.payload(payload);
        }
        let started = Instant::now();
        let result = self
            .producer
            .send(record, Timeout::After(self.settings.message_timeout()))
            .await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .produced
            .with_label_values(&[message.topic, outcome])
            .inc();
        self.metrics
            .delivery_duration
            .with_label_values(&[message.topic])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(delivery) => Ok(Delivery {
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((source, _)) => Err(ProduceError::Delivery {
                topic: message.topic.to_owned(),
                source,
            }),
        }
    }

    /// Checks that a broker answers a metadata request within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> anyhow::Result<()> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout)).await??;
        Ok(())
    }

    /// Waits until every queued message is delivered or `timeout` passes (graceful shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }

    /// The deployment's Kafka settings (topic prefix and broker list).
    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }
}
