//! Messages of a partition aggregator.
use actix::Message;
use chrono::{DateTime, Utc};
use shared::events::action::ActionKind;
use uuid::Uuid;

/// One decoded action with its place in the partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionEvent {
    pub event_id: Uuid,
    pub offset: i64,
    pub user: Uuid,
    pub product: Uuid,
    pub action: ActionKind,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    /// Kafka timestamp (ms), for the freshness metric.
    pub produced_ms: Option<i64>,
}

/// Buffers an event until the next flush.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Buffer(pub ActionEvent);

/// Flushes now (revoke, shutdown, tests); `Ok` once everything buffered is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushNow;

/// Drops a deleted user's sequence from memory.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Forget(pub Uuid);
