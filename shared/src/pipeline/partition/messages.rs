//! Messages of a partition actor.
use std::sync::Arc;

use actix::Message;

use super::super::{PartitionKey, Pipeline};
use crate::kafka::consumer::RawEvent;

/// Events of this partition, in offset order, to buffer until the next flush, each with the
/// message it was decoded from.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Buffer<P: Pipeline> {
    pub events: Vec<P::Event>,
    pub origins: Vec<Origin>,
}

/// Where a buffered event came from: its message, kept for the dead-letter copy should a store
/// reject the event (a reference into the consumed batch, not a copy).
#[derive(Debug, Clone)]
pub struct Origin {
    pub batch: Arc<Vec<RawEvent>>,
    pub index: usize,
}

impl Origin {
    /// The message.
    pub fn message(&self) -> &RawEvent {
        &self.batch[self.index]
    }
}

/// Flushes until everything buffered is durable (revoke, shutdown, tests).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), FlushFailed>")]
pub struct FlushNow;

/// Runs a function on the partition's state (at once, or when a running flush hands it back).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Visit<P: Pipeline>(pub StateVisit<P>);

/// A function run once on a partition's state.
pub type StateVisit<P> = Box<dyn FnOnce(&mut <P as Pipeline>::State) + Send>;

/// Why a requested flush did not make everything durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("flush of {partition} failed: {cause}")]
pub struct FlushFailed {
    pub partition: PartitionKey,
    /// Another owner moved the offset (the partition is no longer this instance's to flush).
    pub fenced: bool,
    /// The cause chain.
    pub cause: String,
}
