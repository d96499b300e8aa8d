//! Routes each `user_actions` event to the aggregator of its partition, creating aggregators as
//! partitions first deliver events and flushing and stopping them when partitions are revoked.
mod handlers;
pub mod messages;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use actix::prelude::*;
use shared::kafka::consumer::{HandleEvent, RevokeHook};

pub use messages::{FlushAll, ForgetUser, Revoke};

use super::aggregator::{Deps, PartitionAggregator};

/// The actor; runs on an arbiter of its own (with its aggregators), so the consumer thread can
/// block in its revoke callback until they flushed.
pub struct Router {
    deps: Deps,
    aggregators: HashMap<i32, Addr<PartitionAggregator>>,
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(PRUNE_INTERVAL, |router, ctx| {
            let db = router.deps.db.clone();
            let retention = router.deps.settings.processed_event_retention_hours;
            ctx.spawn(actix::fut::wrap_future(async move {
                match shared::pipeline::prune_processed(&db, retention).await {
                    Ok(rows) => tracing::info!(rows, "pruned processed event ids"),
                    Err(e) => tracing::warn!(error.cause_chain = ?e, "pruning processed event ids failed"),
                }
            }));
        });
    }
}

/// How often processed event ids past retention are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

impl Router {
    fn aggregator(&mut self, partition: i32) -> Addr<PartitionAggregator> {
        let deps = self.deps.clone();
        self.aggregators
            .entry(partition)
            .or_insert_with(|| PartitionAggregator::new(partition, deps).start())
            .clone()
    }
}

/// A small handle so callers need not know about actix.
#[derive(Clone)]
pub struct RouterHandle {
    addr: Addr<Router>,
    _arbiter: ArbiterHandle,
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
        Self {
            addr,
            _arbiter: arbiter,
        }
    }

    /// Where the consumer sends events.
    pub fn recipient(&self) -> Recipient<HandleEvent> {
        self.addr.clone().recipient()
    }

    /// A revoke hook that blocks the consumer until the revoked partitions are flushed.
    pub fn revoke_hook(&self) -> RevokeHook {
        let addr = self.addr.clone();
        std::sync::Arc::new(move |revoked: &[(String, i32)]| {
            let partitions: Vec<i32> = revoked.iter().map(|(_, p)| *p).collect();
            let (done, wait) = mpsc::channel();
            addr.do_send(Revoke { partitions, done });
            if wait.recv_timeout(REVOKE_TIMEOUT).is_err() {
                tracing::error!("aggregators did not flush within the revoke timeout");
            }
        })
    }

    /// Drops a deleted user's sequence from every aggregator of this instance.
    pub async fn forget_user(&self, user: uuid::Uuid) {
        // Only fails if the router stopped, which happens at shutdown.
        let _ = self.addr.send(ForgetUser(user)).await;
    }

    /// Flushes every aggregator now.
    pub async fn flush_all(&self) -> Result<(), String> {
        self.addr.send(FlushAll).await.map_err(|e| e.to_string())?
    }
}
