//! Handlers of the router's messages: decoding events per topic, revokes, flushes.
use actix::prelude::*;
use futures_util::future::join_all;
use shared::events::action::UserAction;
use shared::events::topics;
use shared::kafka::consumer::{ConsumedEvent, HandleError, HandleEvent};
use uuid::Uuid;

use super::{FlushAll, Revoke, Router};
use crate::actors::aggregator::{Buffer, FlushNow};
use crate::increments::Recorded;

/// What analytics keeps of an event; payloads of the wrong shape are rejected (dead-lettered).
fn record(event: &ConsumedEvent) -> Result<Recorded, HandleError> {
    let envelope = &event.envelope;
    let key: Option<Uuid> = envelope.key.parse().ok();
    let mut recorded = Recorded {
        event_id: envelope.event_id,
        topic: event.topic.clone(),
        partition: event.partition,
        offset: event.offset,
        event_type: envelope.event_type.clone(),
        occurred_at: envelope.occurred_at,
        user_id: None,
        product_id: None,
        action: None,
        payload: envelope.payload.clone(),
    };
    match event.topic.as_str() {
        topics::USER_ACTIONS => {
            let action: UserAction = envelope
                .payload_as()
                .map_err(|e| HandleError::Rejected(format!("invalid user_action payload: {e}")))?;
            recorded.user_id = Some(action.user_id);
            recorded.product_id = Some(action.product_id);
            recorded.action = Some((action.action, action.value));
        }
        topics::USER_UPDATES => recorded.user_id = key,
        _ => recorded.product_id = key,
    }
    Ok(recorded)
}

impl Handler<HandleEvent> for Router {
    type Result = ResponseFuture<Result<(), HandleError>>;

    fn handle(&mut self, HandleEvent(event): HandleEvent, _: &mut Context<Self>) -> Self::Result {
        let recorded = match record(&event) {
            Ok(recorded) => recorded,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let aggregator = self.aggregator(&event.topic, event.partition);
        // A bounded mailbox: a busy aggregator slows the consumer down instead of queueing.
        Box::pin(async move {
            aggregator
                .send(Buffer(recorded))
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
            .filter_map(|p| self.aggregators.remove(p))
            .collect();
        Box::pin(async move {
            for aggregator in aggregators {
                if let Ok(Err(e)) = aggregator.send(FlushNow).await {
                    // Nothing of it committed: the next owner re-reads from the stored offset.
                    tracing::warn!(error = %e, "flush on revoke failed");
                }
            }
            let _ = revoke.done.send(());
        })
    }
}

impl Handler<FlushAll> for Router {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _: FlushAll, _: &mut Context<Self>) -> Self::Result {
        let aggregators: Vec<_> = self.aggregators.values().cloned().collect();
        Box::pin(async move {
            let failed: Vec<String> = join_all(aggregators.iter().map(|a| a.send(FlushNow)))
                .await
                .into_iter()
                .filter_map(|r| match r {
                    Ok(Ok(())) => None,
                    other => Some(format!("{other:?}")),
                })
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(failed.join("; "))
            }
        })
    }
}
