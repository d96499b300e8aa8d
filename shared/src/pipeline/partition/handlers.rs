//! Handlers of a partition actor's messages.
use actix::prelude::*;
use tokio::sync::oneshot;

use super::messages::{Buffer, FlushFailed, FlushNow, Visit};
use super::PartitionActor;
use crate::pipeline::Pipeline;

impl<P: Pipeline> Handler<Buffer<P>> for PartitionActor<P> {
    type Result = ();

    fn handle(
        &mut self,
        Buffer {
            mut events,
            mut origins,
        }: Buffer<P>,
        ctx: &mut Context<Self>,
    ) {
        self.buffer.append(&mut events);
        self.origins.append(&mut origins);
        self.record_buffered();
        self.pause_if_full();
        self.flush_if_due(ctx);
    }
}

impl<P: Pipeline> Handler<FlushNow> for PartitionActor<P> {
    type Result = ResponseFuture<Result<(), FlushFailed>>;

    fn handle(&mut self, _: FlushNow, ctx: &mut Context<Self>) -> Self::Result {
        let (answer, wait) = oneshot::channel();
        self.waiters.push(answer);
        // A running flush starts the next one when it ends.
        if self.state.is_some() {
            self.start_flush(ctx);
        }
        let partition = self.key.clone();
        Box::pin(async move {
            wait.await.unwrap_or_else(|_| {
                Err(FlushFailed {
                    partition,
                    fenced: false,
                    cause: "the partition stopped before flushing".to_owned(),
                })
            })
        })
    }
}

impl<P: Pipeline> Handler<Visit<P>> for PartitionActor<P> {
    type Result = ();

    fn handle(&mut self, Visit(visit): Visit<P>, _: &mut Context<Self>) {
        match &mut self.state {
            Some(state) => visit(state),
            None => self.visits.push(visit),
        }
    }
}
