//! Messages of the pipeline's router.
use std::sync::mpsc::Sender;
use std::sync::Arc;

use actix::Message;

use super::super::{PartitionKey, Pipeline};
use super::FlushAllError;

/// Partitions are being taken away: flush and stop their actors, then signal `done`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub partitions: Vec<PartitionKey>,
    pub done: Sender<()>,
}

/// Flushes every partition (shutdown, tests).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), FlushAllError>")]
pub struct FlushAll;

/// Runs a function on the state of every partition this instance holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct VisitAll<P: Pipeline>(pub SharedVisit<P>);

/// A function run on every partition's state.
pub type SharedVisit<P> = Arc<dyn Fn(&mut <P as Pipeline>::State) + Send + Sync>;
