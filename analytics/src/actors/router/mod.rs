//! Routes each event to the aggregator of its topic-partition, creating aggregators as partitions
//! deliver and flushing and stopping them when partitions are revoked. Runs on an arbiter of its
//! own, so the consumer can block in its revoke callback until the flush is done.
mod handlers;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use actix::prelude::*;
use shared::kafka::consumer::{HandleEvent, RevokeHook};

use super::aggregator::{Deps, PartitionAggregator};

/// Partitions are being taken away: flush and stop their aggregators, then signal `done`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub partitions: Vec<(String, i32)>,
    pub done: mpsc::Sender<()>,
}

/// Flushes every aggregator (shutdown, tests).
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushAll;

/// The actor.
pub struct Router {
    deps: Deps,
    aggregators: HashMap<(String, i32), Addr<PartitionAggregator>>,
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PRUNE_INTERVAL, |router, ctx| {
            let deps = router.deps.clone();
            ctx.spawn(actix::fut::wrap_future(async move {
                let raw = crate::repository::stats::prune_raw(&deps.db, deps.raw_retention_days).await;
                let ids = shared::pipeline::prune_processed(&deps.db, deps.processed_retention_hours).await;
                let buckets =
                    crate::repository::stats::prune_buckets(&deps.db, deps.bucket_retention_days).await;
                match (raw, ids, buckets) {
                    (Ok(raw), Ok(ids), Ok(buckets)) => {
                        tracing::info!(
                            raw,
                            ids,
                            buckets,
                            "pruned raw events, processed ids and old buckets"
                        )
                    }
                    (raw, ids, buckets) => tracing::warn!(?raw, ?ids, ?buckets, "pruning failed"),
                }
            }));
        });
    }
}

/// How often old raw events and processed event ids are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

impl Router {
    fn aggregator(&mut self, topic: &str, partition: i32) -> Addr<PartitionAggregator> {
        let deps = self.deps.clone();
        self.aggregators
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| PartitionAggregator::new(topic.to_owned(), partition, deps).start())
            .clone()
    }
}

/// A small handle so callers need not know about actix.
#[derive(Clone)]
pub struct RouterHandle {
    addr: Addr<Router>,
}

/// Longest a revoke waits for the aggregators' flush before letting the partitions go anyway.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(30);

impl RouterHandle {
    /// Starts the router on a new arbiter (thread).
    pub fn start(deps: Deps) -> Self {
        let arbiter = Arbiter::new().handle();
        let addr = Router::start_in_arbiter(&arbiter, move |_| Router {
            deps,
            aggregators: HashMap::new(),
        });
        Self { addr }
    }

    /// Where the consumer sends events.
    pub fn recipient(&self) -> Recipient<HandleEvent> {
        self.addr.clone().recipient()
    }

    /// A revoke hook that blocks the consumer until the revoked partitions are flushed.
    pub fn revoke_hook(&self) -> RevokeHook {
        let addr = self.addr.clone();
        std::sync::Arc::new(move |revoked: &[(String, i32)]| {
            let (done, wait) = mpsc::channel();
            addr.do_send(Revoke {
                partitions: revoked.to_vec(),
                done,
            });
            if wait.recv_timeout(REVOKE_TIMEOUT).is_err() {
                tracing::error!("aggregators did not flush within the revoke timeout");
            }
        })
    }

    /// Flushes every aggregator now.
    pub async fn flush_all(&self) -> Result<(), String> {
        self.addr.send(FlushAll).await.map_err(|e| e.to_string())?
    }
}
