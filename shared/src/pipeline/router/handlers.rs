//! Handlers of the router's messages.
use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::join_all;

use super::messages::{FlushAll, Revoke, VisitAll};
use super::{FlushAllError, Router};
use crate::kafka::consumer::{HandleBatch, HandleError};
use crate::pipeline::partition::{Buffer, FlushNow, Origin, Visit};
use crate::pipeline::{PartitionKey, Pipeline};

/// One partition's share of a batch.
struct Routed<P: Pipeline> {
    topic: Arc<str>,
    partition: i32,
    events: Vec<P::Event>,
    origins: Vec<Origin>,
}

impl<P: Pipeline> Handler<HandleBatch> for Router<P> {
    type Result = ResponseFuture<Result<Vec<(usize, String)>, HandleError>>;

    fn handle(&mut self, HandleBatch(events): HandleBatch, _: &mut Context<Self>) -> Self::Result {
        let mut rejected = Vec::new();
        // Per partition, in the batch's (offset) order. A batch holds few partitions, mostly in
        // runs: a short list beats hashing every event's key.
        let mut routed: Vec<Routed<P>> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match self.pipeline.decode(event) {
                Ok(decoded) => {
                    let partition = event.partition();
                    let origin = Origin {
                        batch: events.clone(),
                        index,
                    };
                    let found = routed
                        .iter_mut()
                        .rev()
                        .find(|r| r.partition == partition && Arc::ptr_eq(&r.topic, &event.topic));
                    match found {
                        Some(r) => {
                            r.events.push(decoded);
                            r.origins.push(origin);
                        }
                        None => routed.push(Routed {
                            topic: event.topic.clone(),
                            partition,
                            events: vec![decoded],
                            origins: vec![origin],
                        }),
                    }
                }
                Err(reason) => rejected.push((index, reason)),
            }
        }
        let sends: Vec<_> = routed
            .into_iter()
            .map(|r| {
                let key = PartitionKey {
                    topic: r.topic.to_string(),
                    partition: r.partition,
                };
                self.partition(&key).send(Buffer {
                    events: r.events,
                    origins: r.origins,
                })
            })
            .collect();
        Box::pin(async move {
            // A bounded mailbox per partition: a partition that cannot keep up slows the
            // consumer instead of queueing without limit (until its buffer pauses it).
            for result in join_all(sends).await {
                result.map_err(|e| {
                    HandleError::Transient(anyhow::Error::new(e).context("a partition actor stopped"))
                })?;
            }
            Ok(rejected)
        })
    }
}

impl<P: Pipeline> Handler<Revoke> for Router<P> {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, revoke: Revoke, _: &mut Context<Self>) -> Self::Result {
        let actors: Vec<_> = revoke
            .partitions
            .iter()
            .filter_map(|key| self.partitions.remove(key).map(|a| (key.clone(), a)))
            .collect();
        Box::pin(async move {
            let results = join_all(actors.iter().map(|(_, actor)| actor.send(FlushNow))).await;
            for ((key, _), result) in actors.iter().zip(results) {
                match result {
                    Ok(Ok(())) => tracing::info!(partition = %key, "flushed on revoke"),
                    // Nothing of it committed: the next owner re-reads from the stored offset.
                    other => tracing::warn!(partition = %key, result = ?other, "flush on revoke failed"),
                }
            }
            // The actors stop once their addresses (here) are gone.
            drop(actors);
            let _ = revoke.done.send(());
        })
    }
}

impl<P: Pipeline> Handler<FlushAll> for Router<P> {
    type Result = ResponseFuture<Result<(), FlushAllError>>;

    fn handle(&mut self, _: FlushAll, _: &mut Context<Self>) -> Self::Result {
        let actors: Vec<_> = self.partitions.values().cloned().collect();
        Box::pin(async move {
            let mut failed = Vec::new();
            for result in join_all(actors.iter().map(|a| a.send(FlushNow))).await {
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => failed.push(e),
                    // Stopped meanwhile (revoked): its revoke flushed it.
                    Err(_) => {}
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(FlushAllError(failed))
            }
        })
    }
}

impl<P: Pipeline> Handler<VisitAll<P>> for Router<P> {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, VisitAll(visit): VisitAll<P>, _: &mut Context<Self>) -> Self::Result {
        let sends: Vec<_> = self
            .partitions
            .values()
            .map(|actor| {
                let visit = visit.clone();
                actor.send(Visit(Box::new(move |state: &mut P::State| visit(state))))
            })
            .collect();
        Box::pin(async move {
            // A partition stopped meanwhile holds no state any more.
            let _ = join_all(sends).await;
        })
    }
}
