//! Messages between the consumer actor, its handler actor and its owner.
use std::sync::Arc;

use actix::Message;

use crate::events::Envelope;

/// A decoded event read from Kafka.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedEvent {
    /// Logical topic name (without the deployment's prefix).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The message's timestamp (when the producer created it), in ms since the epoch.
    pub timestamp_ms: Option<i64>,
    pub envelope: Envelope,
}

/// Asks the handler actor to apply one event. The consumer sends the next event of the same
/// partition only after this one succeeded, and stores the offset only then.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), HandleError>")]
pub struct HandleEvent(pub Arc<ConsumedEvent>);

/// A message as read from Kafka, for handlers that decode it themselves (batches): decoding
/// then happens on the handler's thread, in one pass into its own types. Only what handlers and
/// the dead-letter copy need is kept (no headers: parsing them was most of the consume loop's
/// time; the dead-letter copy gets the event's headers back from its envelope).
#[derive(Debug)]
pub struct RawEvent {
    /// Logical topic name (without the deployment's prefix).
    pub topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp_ms: Option<i64>,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
}

impl RawEvent {
    /// A message built by hand (tests of handlers).
    pub fn new(topic: &str, partition: i32, offset: i64, key: Option<&[u8]>, payload: Option<&[u8]>) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
            timestamp_ms: None,
            key: key.map(<[u8]>::to_vec),
            payload: payload.map(<[u8]>::to_vec),
        }
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The message's timestamp (when the producer created it), in ms since the epoch.
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp_ms
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    pub fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}

/// Hands a batching handler every message the consumer had ready (several partitions, each in
/// offset order). `Ok` lists the messages it rejects (they do not decode, or their event is
/// invalid), by index, with the reason: they go to the dead-letter topic. `Err(Transient)` makes
/// the consumer deliver the same batch again.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<(usize, String)>, HandleError>")]
pub struct HandleBatch(pub Arc<Vec<RawEvent>>);

/// How a handler reports that it could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event can never be applied (e.g. its payload has the wrong shape): it goes to the
    /// dead-letter topic and consumption continues.
    #[error("event rejected: {0}")]
    Rejected(String),
    /// A dependency failed (e.g. the database is down): the same event is retried with backoff
    /// and the offset does not advance.
    #[error("transient failure while handling the event")]
    Transient(#[from] anyhow::Error),
}

/// Stops consuming, commits the offsets stored so far and stops the actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Stops handing messages to the handler; the member keeps its partitions and can still store
/// and commit offsets. A final flush runs between this and [`Shutdown`], so nothing is consumed
/// after it (a message fetched but not yet handed over is simply read again at the next start).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopFetching;

/// The partitions currently assigned to this consumer, as `(full topic name, partition)`.
#[derive(Debug, Message)]
#[rtype(result = "Vec<(String, i32)>")]
pub struct GetAssignment;
