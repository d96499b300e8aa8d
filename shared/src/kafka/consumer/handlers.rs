//! Handlers of the consumer actor's messages.
use actix::prelude::*;
use rdkafka::consumer::{CommitMode, Consumer};

use super::messages::{GetAssignment, Shutdown, StopFetching};
use super::KafkaConsumer;

impl Handler<Shutdown> for KafkaConsumer {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        // Dropping the loop mid-event is safe: that event's offset was not stored, so it is
        // redelivered (handlers are idempotent).
        if let Some(handle) = self.loop_handle.take() {
            ctx.cancel_future(handle);
        }
        let consumer = self.consumer.clone();
        let commit = async move {
            match tokio::task::spawn_blocking(move || consumer.commit_consumer_state(CommitMode::Sync)).await
            {
                Ok(Ok(())) => tracing::info!("committed consumer offsets on shutdown"),
                Ok(Err(e)) => tracing::debug!(error = %e, "nothing committed on shutdown"),
                Err(e) => tracing::warn!(error.cause_chain = ?e, "offset commit task failed"),
            }
        };
        Box::pin(commit.into_actor(self).map(|(), _, ctx| ctx.stop()))
    }
}

impl Handler<StopFetching> for KafkaConsumer {
    type Result = ();

    fn handle(&mut self, _: StopFetching, ctx: &mut Context<Self>) {
        if let Some(handle) = self.loop_handle.take() {
            ctx.cancel_future(handle);
        }
    }
}

impl Handler<GetAssignment> for KafkaConsumer {
    type Result = MessageResult<GetAssignment>;

    fn handle(&mut self, _: GetAssignment, _: &mut Context<Self>) -> Self::Result {
        let assignment = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        MessageResult(assignment)
    }
}
