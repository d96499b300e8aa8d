//! Handlers of the router's messages.
use actix::prelude::*;
use futures_util::future::join_all;
use shared::events::action::UserAction;
use shared::kafka::consumer::{HandleError, HandleEvent};

use super::messages::{FlushAll, ForgetUser, Revoke};
use super::Router;
use crate::actors::aggregator::{ActionEvent, Buffer, FlushNow, Forget};

impl Handler<HandleEvent> for Router {
    type Result = ResponseFuture<Result<(), HandleError>>;

    fn handle(&mut self, HandleEvent(event): HandleEvent, _: &mut Context<Self>) -> Self::Result {
        let action: UserAction = match event.envelope.payload_as() {
            Ok(action) => action,
            Err(e) => {
                return Box::pin(async move {
                    Err(HandleError::Rejected(format!("invalid user_action payload: {e}")))
                })
            }
        };
        let aggregator = self.aggregator(event.partition);
        let buffered = ActionEvent {
            event_id: event.envelope.event_id,
            offset: event.offset,
            user: action.user_id,
            product: action.product_id,
            action: action.action,
            value: action.value,
            occurred_at: action.occurred_at,
            produced_ms: event.timestamp_ms,
        };
        Box::pin(async move {
            // A bounded mailbox: a busy aggregator slows the consumer down instead of queueing.
            aggregator
                .send(Buffer(buffered))
                .await
                .map_err(|e| HandleError::Transient(e.into()))
        })
    }
}

impl Handler<Revoke> for Router {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, revoke: Revoke, _: &mut Context<Self>) -> Self::Result {
        let aggregators: Vec<_> = revoke
            .partitions
            .iter()
            .filter_map(|p| self.aggregators.remove(p).map(|a| (*p, a)))
            .collect();
        Box::pin(async move {
            for (partition, aggregator) in aggregators {
                match aggregator.send(FlushNow).await {
                    Ok(Ok(())) => tracing::info!(partition, "flushed on revoke"),
                    // Nothing of it committed: the next owner re-reads from the stored offset.
                    other => tracing::warn!(partition, result = ?other, "flush on revoke failed"),
                }
            }
            let _ = revoke.done.send(());
        })
    }
}

impl Handler<FlushAll> for Router {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _: FlushAll, _: &mut Context<Self>) -> Self::Result {
        let aggregators: Vec<_> = self.aggregators.iter().map(|(p, a)| (*p, a.clone())).collect();
        Box::pin(async move {
            let results = join_all(aggregators.iter().map(|(_, a)| a.send(FlushNow))).await;
            let failed: Vec<String> = aggregators
                .iter()
                .zip(results)
                .filter(|(_, r)| !matches!(r, Ok(Ok(()))))
                .map(|((p, _), r)| format!("{p}: {r:?}"))
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("; "))
            }
        })
    }
}

impl Handler<ForgetUser> for Router {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, ForgetUser(user): ForgetUser, _: &mut Context<Self>) -> Self::Result {
        let aggregators: Vec<_> = self.aggregators.values().cloned().collect();
        Box::pin(async move {
            for aggregator in aggregators {
                // A stopped aggregator (partition revoked) holds nothing any more.
                let _ = aggregator.send(Forget(user)).await;
            }
        })
    }
}
