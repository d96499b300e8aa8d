//! Handlers of a partition aggregator's messages.
use actix::prelude::*;

use super::messages::{Buffer, FlushNow};
use super::PartitionAggregator;

impl Handler<Buffer> for PartitionAggregator {
    type Result = ();

    fn handle(&mut self, Buffer(event): Buffer, _: &mut Context<Self>) {
        self.buffer.push(event);
    }
}

impl Handler<FlushNow> for PartitionAggregator {
    type Result = AtomicResponse<Self, Result<(), String>>;

    fn handle(&mut self, _: FlushNow, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(Box::pin(self.flush_future()))
    }
}
