//! Handlers of a partition aggregator's messages.
use actix::prelude::*;

use super::messages::{Buffer, FlushNow, Forget};
use super::PartitionAggregator;

impl Handler<Buffer> for PartitionAggregator {
    type Result = ();

    fn handle(&mut self, Buffer(event): Buffer, _: &mut Context<Self>) {
        self.buffer.push(event);
        self.deps
            .metrics
            .buffered
            .with_label_values(&[&self.label()])
            .set(self.buffer.len() as i64);
    }
}

impl Handler<FlushNow> for PartitionAggregator {
    type Result = AtomicResponse<Self, Result<(), String>>;

    fn handle(&mut self, _: FlushNow, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(self.flush_future()))
    }
}

impl Handler<Forget> for PartitionAggregator {
    type Result = ();

    fn handle(&mut self, Forget(user): Forget, _: &mut Context<Self>) {
        // Flushes hold the actor (atomic): the core is always here between messages.
        if let Some(core) = &mut self.core {
            core.forget(user);
        }
    }
}
