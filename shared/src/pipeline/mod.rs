//! The batching consumer pipeline of the recommender and analytics, written once:
//!
//! ```text
//! KafkaConsumer ──HandleBatch──▶ Router ──Buffer──▶ PartitionActor (topic, partition) ─▶ Pipeline::flush
//!   (ready messages, in order)   decode, route      own thread; buffers; flushes every interval,
//!                                                    on revoke, on shutdown, on request
//! ```
//!
//! A service implements [`Pipeline`]: how to decode an event, what a partition keeps between
//! flushes, and the flush, which commits the batch's effect with the partition's next offset in
//! one transaction ([`advance_offset`]: a compare-and-set that fences off a former owner) and
//! skips what it applied before ([`load_offset`], [`processed`]). After a flush the partition's
//! next offset is stored in Kafka as a hint (it never leads Postgres).
//!
//! A batch that a store rejects for a reason retrying cannot change ([`FlushError::Rejected`],
//! or a panic) is split in halves and flushed again until the one event that causes it is
//! found; that event goes to the dead-letter topic with the reason, [`Pipeline::skip`] moves the
//! offset past it, and the rest is applied: one poison event never stalls a partition.
//!
//! A partition keeps taking events while it flushes, so one slow or failing partition never
//! stalls the consumer for the others; when its buffer passes `max_buffered` events its fetching
//! is paused in Kafka until a flush drains it. Revoke: the consumer waits until the revoked
//! partitions flushed. Every hour [`Pipeline::maintain`] runs (pruning).
pub mod migration;
mod offsets;
pub mod partition;
pub mod router;

use std::fmt;
use std::time::Duration;

use crate::kafka::consumer::RawEvent;

pub use offsets::{advance_offset, load_offset, mark_processed, processed, prune_processed};
pub use router::{FlushAllError, PipelineHandle};

/// A topic-partition as the pipeline sees it (logical topic name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic: String,
    pub partition: i32,
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// How a flush failed. Either way nothing of it was committed.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// Another owner moved the partition's offset: this instance's state of the partition is
    /// stale and is replaced by a fresh one ([`Pipeline::state`]).
    #[error("the partition's offset was moved by another owner")]
    Fenced,
    /// A store refused the batch's data for a reason that retrying cannot change (a value out
    /// of range, a constraint): the partition isolates the event that causes it, dead-letters
    /// it and goes on (see [`partition`]).
    #[error("a store rejected the batch: {0:#}")]
    Rejected(anyhow::Error),
    /// Anything else (database down, ...): the same events are flushed again with the next
    /// flush.
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for FlushError {
    /// Classifies by the cause chain: PostgreSQL's data exceptions (SQLSTATE class 22),
    /// integrity violations (23) and program limits (54) depend on the data and are
    /// [`FlushError::Rejected`]; everything else (connections, pool, serialization failures,
    /// privileges) may pass and is [`FlushError::Failed`].
    fn from(error: anyhow::Error) -> Self {
        if crate::db::rejected_by_store(&error) {
            FlushError::Rejected(error)
        } else {
            FlushError::Failed(error)
        }
    }
}

/// Timing and bounds of the partitions.
#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    pub flush_interval: Duration,
    /// Buffered events above which a partition's fetching is paused until a flush drains it.
    pub max_buffered: usize,
}

/// What a service plugs into the pipeline.
#[async_trait::async_trait(?Send)]
pub trait Pipeline: Clone + Send + Unpin + 'static {
    /// A decoded event, kept until its flush.
    type Event: Send + Unpin + 'static;
    /// What a partition keeps between flushes (e.g. its stored offset, users' sequences).
    type State: Send + Unpin + 'static;

    fn settings(&self) -> PipelineSettings;

    /// Decodes a consumed message (on the router's thread); `Err(reason)` sends it to the
    /// dead-letter topic.
    fn decode(&self, event: &RawEvent) -> Result<Self::Event, String>;

    /// A partition's state before its first flush, and after a fenced one.
    fn state(&self, partition: &PartitionKey) -> Self::State;

    /// Makes `events` (in arrival order; may hold redeliveries) durable exactly once, and
    /// returns the partition's next offset if it moved. On `Err` nothing may be committed and
    /// `state` must be as before (the same events come again).
    async fn flush(
        &self,
        state: &mut Self::State,
        partition: &PartitionKey,
        events: &[Self::Event],
    ) -> Result<Option<i64>, FlushError>;

    /// Commits that the partition's events below `next_offset` are done, applying nothing: the
    /// event just below it was dead-lettered because a store rejected it, and every event before
    /// it is durable already. Like a flush, in one transaction with the fenced offset.
    async fn skip(
        &self,
        state: &mut Self::State,
        partition: &PartitionKey,
        next_offset: i64,
    ) -> Result<(), FlushError>;

    /// Hourly maintenance of every instance (e.g. deleting old rows).
    async fn maintain(&self);
}
