//! Routes each consumed batch's events to the actor of their topic-partition, creating actors
//! (each on a thread of its own) as partitions first deliver events, and flushing and stopping
//! them when partitions are revoked. Runs on a thread of its own too, so the consumer can block
//! in its revoke callback until the flushes are done.
mod handlers;
pub mod messages;

use std::collections::HashMap;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;

pub use messages::{FlushAll, Revoke, VisitAll};

use super::partition::{Attached, FlushFailed, PartitionActor, Shared};
use super::{PartitionKey, Pipeline};
use crate::kafka::consumer::{ConsumerHandle, HandleBatch, RevokeHook};
use crate::metrics::PipelineMetrics;

/// How often [`Pipeline::maintain`] runs.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);

/// Longest a revoke waits for the flushes before letting the partitions go anyway (the next
/// owner then re-reads from the stored offsets: nothing is lost).
const REVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The actor.
pub struct Router<P: Pipeline> {
    pipeline: P,
    shared: Shared,
    partitions: HashMap<PartitionKey, Addr<PartitionActor<P>>>,
}

impl<P: Pipeline> Router<P> {
    fn partition(&mut self, key: &PartitionKey) -> Addr<PartitionActor<P>> {
        if let Some(addr) = self.partitions.get(key) {
            return addr.clone();
        }
        let actor = PartitionActor::new(key.clone(), self.pipeline.clone(), self.shared.clone());
        let addr = PartitionActor::start_in_arbiter(&Arbiter::new().handle(), move |_| actor);
        self.partitions.insert(key.clone(), addr.clone());
        addr
    }
}

impl<P: Pipeline> Actor for Router<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(MAINTENANCE_INTERVAL, |router, ctx| {
            let pipeline = router.pipeline.clone();
            ctx.spawn(actix::fut::wrap_future(async move { pipeline.maintain().await }));
        });
    }
}

/// Partitions whose flush failed.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct FlushAllError(pub Vec<FlushFailed>);

/// A small handle so callers need not know about actix.
pub struct PipelineHandle<P: Pipeline> {
    addr: Addr<Router<P>>,
    consumer: Arc<OnceLock<Attached>>,
}

impl<P: Pipeline> Clone for PipelineHandle<P> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
            consumer: self.consumer.clone(),
        }
    }
}

impl<P: Pipeline> PipelineHandle<P> {
    /// Starts the router on a new arbiter (thread).
    pub fn start(pipeline: P, metrics: PipelineMetrics) -> Self {
        let consumer = Arc::new(OnceLock::new());
        let shared = Shared {
            metrics,
            consumer: consumer.clone(),
        };
        let addr = Router::start_in_arbiter(&Arbiter::new().handle(), move |_| Router {
            pipeline,
            shared,
            partitions: HashMap::new(),
        });
        Self { addr, consumer }
    }

    /// Where the consumer sends batches.
    pub fn recipient(&self) -> Recipient<HandleBatch> {
        self.addr.clone().recipient()
    }

    /// Gives the partitions the consumer's offset store (hints after flushes), partition
    /// control (pausing full partitions) and dead-letter writer (rejected events). Call once,
    /// after starting the consumer.
    pub fn attach(&self, consumer: &ConsumerHandle) {
        // Only the first attach counts, and there is only one consumer.
        let _ = self.consumer.set(Attached {
            offsets: consumer.offsets(),
            control: consumer.control(),
            dead_letters: consumer.dead_letters(),
        });
    }

    /// A revoke hook that blocks the consumer until the revoked partitions are flushed.
    pub fn revoke_hook(&self) -> RevokeHook {
        let addr = self.addr.clone();
        Arc::new(move |revoked: &[(String, i32)]| {
            let partitions = revoked
                .iter()
                .map(|(topic, partition)| PartitionKey {
                    topic: topic.clone(),
                    partition: *partition,
                })
                .collect();
            let (done, wait) = mpsc::channel();
            addr.do_send(Revoke { partitions, done });
            if wait.recv_timeout(REVOKE_TIMEOUT).is_err() {
                tracing::error!("partitions did not flush within the revoke timeout");
            }
        })
    }

    /// Flushes every partition now; `Err` names those that failed.
    pub async fn flush_all(&self) -> Result<(), FlushAllError> {
        self.addr.send(FlushAll).await.unwrap_or_else(|e| {
            Err(FlushAllError(vec![FlushFailed {
                partition: PartitionKey {
                    topic: String::new(),
                    partition: -1,
                },
                fenced: false,
                cause: format!("the router stopped: {e}"),
            }]))
        })
    }

    /// Runs `visit` on the state of every partition this instance holds (e.g. forgetting a
    /// deleted user); returns once every partition took it.
    pub async fn visit_all(&self, visit: impl Fn(&mut P::State) + Send + Sync + 'static) {
        // Only fails at shutdown, when there is nothing left to visit.
        let _ = self.addr.send(VisitAll(Arc::new(visit))).await;
    }
}
