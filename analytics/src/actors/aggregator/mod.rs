//! One aggregator per assigned topic-partition. Events are buffered; a flush (every
//! `analytics.flush_interval_ms`, on revoke and on shutdown) writes in ONE transaction: the raw
//! events, every statistic's increments, the processed event ids and the partition's next offset
//! (compare-and-set, see `shared::pipeline`). Events below the stored offset and ids seen before
//! change nothing, so every event counts exactly once.
mod handlers;
pub mod messages;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;
use anyhow::Context as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use shared::kafka::consumer::OffsetStore;

pub use messages::{Buffer, FlushNow};

use crate::cache::AnswerCache;
use crate::increments::{increments, Recorded};
use crate::metrics::AnalyticsMetrics;
use crate::repository::stats;

/// What every aggregator shares.
#[derive(Clone)]
pub struct Deps {
    pub db: DatabaseConnection,
    /// Invalidated after every committed flush.
    pub cache: AnswerCache,
    pub metrics: AnalyticsMetrics,
    pub flush_interval: Duration,
    /// Raw events and processed ids past these ages are deleted hourly.
    pub raw_retention_days: u32,
    /// Minute and hour buckets, and unique-user rows, older than this are deleted.
    pub bucket_retention_days: u32,
    pub processed_retention_hours: u64,
    /// Set once the consumer runs: committed offsets are stored as a hint for restarts.
    pub offsets: Arc<OnceLock<OffsetStore>>,
}

/// The actor.
pub struct PartitionAggregator {
    topic: String,
    partition: i32,
    deps: Deps,
    buffer: Vec<Recorded>,
    /// The stored next offset, once read (`Some(None)`: never flushed).
    next_offset: Option<Option<i64>>,
}

impl PartitionAggregator {
    pub fn new(topic: String, partition: i32, deps: Deps) -> Self {
        Self {
            topic,
            partition,
            deps,
            buffer: Vec::new(),
            next_offset: None,
        }
    }

    fn flush_future(&mut self) -> impl ActorFuture<Self, Output = Result<(), String>> {
        let events = std::mem::take(&mut self.buffer);
        let (deps, topic, partition, known) = (
            self.deps.clone(),
            self.topic.clone(),
            self.partition,
            self.next_offset,
        );
        async move {
            let started = std::time::Instant::now();
            let result = flush(&deps, &topic, partition, known, &events).await;
            deps.metrics.flush_duration.observe(started.elapsed().as_secs_f64());
            (events, result)
        }
        .into_actor(self)
        .map(|(mut events, result), actor, _| match result {
            Ok(next) => {
                actor.next_offset = Some(next);
                Ok(())
            }
            Err(e) => {
                // Nothing committed: retry with the next flush, re-reading the offset (another
                // owner may have moved it).
                tracing::warn!(topic = %actor.topic, partition = actor.partition, error.cause_chain = ?e, "analytics flush failed");
                actor.next_offset = None;
                events.append(&mut actor.buffer);
                actor.buffer = events;
                Err(format!("{e:#}"))
            }
        })
    }
}

impl Actor for PartitionAggregator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(self.deps.flush_interval, |actor, ctx| {
            if !actor.buffer.is_empty() {
                let flush = actor.flush_future().map(|_, _, _| ());
                ctx.wait(flush);
            }
        });
    }
}

/// The distinct, not yet applied events of a buffer, in offset order, and the next offset.
pub fn fresh(
    events: &[Recorded],
    floor: i64,
    processed: &HashSet<uuid::Uuid>,
) -> (Vec<Recorded>, Option<i64>) {
    let mut batch: Vec<&Recorded> = events.iter().filter(|e| e.offset >= floor).collect();
    batch.sort_by_key(|e| e.offset);
    let next = batch.last().map(|e| e.offset + 1);
    let mut seen = HashSet::new();
    let distinct = batch
        .into_iter()
        .filter(|e| !processed.contains(&e.event_id) && seen.insert(e.event_id))
        .cloned()
        .collect();
    (distinct, next)
}

/// One flush; returns the partition's next offset afterwards.
async fn flush(
    deps: &Deps,
    topic: &str,
    partition: i32,
    known: Option<Option<i64>>,
    events: &[Recorded],
) -> anyhow::Result<Option<i64>> {
    let stored = match known {
        Some(offset) => offset,
        None => shared::pipeline::load_offset(&deps.db, topic, partition).await?,
    };
    let floor = stored.unwrap_or(0);
    let ids: Vec<uuid::Uuid> = events
        .iter()
        .filter(|e| e.offset >= floor)
        .map(|e| e.event_id)
        .collect();
    if ids.is_empty() {
        return Ok(stored);
    }
    let processed = shared::pipeline::processed(&deps.db, &ids).await?;
    let (distinct, next) = fresh(events, floor, &processed);
    let Some(next) = next else { return Ok(stored) };
    let inc = increments(&distinct);
    deps.metrics
        .events
        .with_label_values(&["skipped"])
        .inc_by((events.len() - distinct.len()) as u64);
    let txn = deps.db.begin().await.context("Failed to begin the flush")?;
    anyhow::ensure!(
        shared::pipeline::advance_offset(&txn, topic, partition, stored, next).await?,
        "the offset of {topic}[{partition}] was moved by another owner"
    );
    stats::insert_raw(&txn, &distinct).await?;
    stats::apply_catalogue(&txn, &distinct).await?;
    shared::pipeline::mark_processed(&txn, &distinct.iter().map(|e| e.event_id).collect::<Vec<_>>()).await?;
    // Shared statistic rows last: their locks are held only until the commit.
    stats::add(&txn, &inc).await?;
    txn.commit().await.context("Failed to commit the flush")?;
    deps.cache.invalidate_all().await;
    deps.metrics
        .events
        .with_label_values(&["applied"])
        .inc_by(distinct.len() as u64);
    if let Some(offsets) = deps.offsets.get() {
        if let Err(e) = offsets.store(topic, partition, next) {
            tracing::debug!(error = %e, "offset hint not stored (partition moved)");
        }
    }
    Ok(Some(next))
}
