//! The statistics pipeline ([`shared::pipeline`]) over all three topics: every assigned
//! topic-partition buffers its events; a flush (every `analytics.flush_interval_ms`, on revoke
//! and on shutdown) writes in ONE transaction: the raw events, every statistic's increments, the
//! processed event ids and the partition's next offset (compare-and-set, see
//! `shared::pipeline`). Events below the stored offset and ids seen before change nothing, so
//! every event counts exactly once.
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use sea_orm::{DatabaseConnection, TransactionTrait};
use shared::events::action::UserAction;
use shared::events::product::ProductSnapshot;
use shared::events::user::UserProfile;
use shared::events::{checks, event_types, topics};
use shared::kafka::consumer::{ConsumedEvent, RawEvent};
use shared::pipeline::{FlushError, PartitionKey, Pipeline, PipelineSettings};
use uuid::Uuid;

use crate::cache::AnswerCache;
use crate::increments::{increments, Recorded};
use crate::metrics::AnalyticsMetrics;
use crate::repository::{flush, retention};

/// The pipeline: what every partition's flush uses.
#[derive(Clone)]
pub struct Statistics {
    pub db: DatabaseConnection,
    /// Invalidated after every committed flush.
    pub cache: AnswerCache,
    pub metrics: AnalyticsMetrics,
    pub flush_interval: Duration,
    /// Events a partition buffers at most before its fetching is paused.
    pub max_buffered: usize,
    /// Raw events and processed ids past these ages are deleted hourly.
    pub raw_retention_days: u32,
    /// Minute and hour buckets, and unique-user rows, older than this are deleted.
    pub bucket_retention_days: u32,
    pub processed_retention_hours: u64,
}

/// A partition's stored next offset, once read (`Some(None)`: never flushed).
#[derive(Debug, Default)]
pub struct Offset(Option<Option<i64>>);

#[async_trait::async_trait(?Send)]
impl Pipeline for Statistics {
    type Event = Recorded;
    type State = Offset;

    fn settings(&self) -> PipelineSettings {
        PipelineSettings {
            flush_interval: self.flush_interval,
            max_buffered: self.max_buffered,
        }
    }

    fn decode(&self, event: &RawEvent) -> Result<Recorded, String> {
        let envelope = shared::events::decode(event.payload()).map_err(|e| e.to_string())?;
        record(&ConsumedEvent {
            topic: event.topic.to_string(),
            partition: event.partition(),
            offset: event.offset(),
            timestamp_ms: event.timestamp_ms(),
            envelope,
        })
    }

    fn state(&self, _: &PartitionKey) -> Offset {
        Offset::default()
    }

    async fn flush(
        &self,
        state: &mut Offset,
        partition: &PartitionKey,
        events: &[Recorded],
    ) -> Result<Option<i64>, FlushError> {
        let result = flush(self, &partition.topic, partition.partition, state.0, events).await;
        // After a failure the offset is read again: another owner may have moved it.
        state.0 = result.as_ref().ok().copied();
        result
    }

    async fn skip(
        &self,
        state: &mut Offset,
        partition: &PartitionKey,
        next_offset: i64,
    ) -> Result<(), FlushError> {
        let result = skip(self, &partition.topic, partition.partition, state.0, next_offset).await;
        state.0 = result.as_ref().ok().copied();
        result.map(|_| ())
    }

    async fn maintain(&self) {
        let raw = retention::prune_raw(&self.db, self.raw_retention_days).await;
        let ids = shared::pipeline::prune_processed(&self.db, self.processed_retention_hours).await;
        let buckets = retention::prune_buckets(&self.db, self.bucket_retention_days).await;
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
    }
}

/// What analytics keeps of an event; payloads of the wrong shape are rejected (dead-lettered).
fn record(event: &ConsumedEvent) -> Result<Recorded, String> {
    let envelope = &event.envelope;
    let now = Utc::now();
    checks::time("occurred_at", envelope.occurred_at, now)?;
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
                .map_err(|e| format!("invalid user_action payload: {e}"))?;
            action.check(now)?;
            recorded.user_id = Some(action.user_id);
            recorded.product_id = Some(action.product_id);
            recorded.action = Some((action.action, action.value));
        }
        topics::USER_UPDATES => {
            if matches!(
                envelope.event_type.as_str(),
                event_types::USER_REGISTERED | event_types::USER_UPDATED
            ) {
                let profile: UserProfile = envelope
                    .payload_as()
                    .map_err(|e| format!("invalid {} payload: {e}", envelope.event_type))?;
                profile.check(now)?;
            }
            recorded.user_id = key;
        }
        _ => {
            if matches!(
                envelope.event_type.as_str(),
                event_types::PRODUCT_CREATED | event_types::PRODUCT_UPDATED
            ) {
                let product: ProductSnapshot = envelope
                    .payload_as()
                    .map_err(|e| format!("invalid {} payload: {e}", envelope.event_type))?;
                product.check(now)?;
            }
            recorded.product_id = key;
        }
    }
    // Anything else a store refuses (e.g. a NUL in a field nobody reads, which jsonb cannot
    // hold) is isolated by the pipeline when the flush meets it.
    Ok(recorded)
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

/// Moves the offset past a dead-lettered event; returns the partition's next offset afterwards.
async fn skip(
    deps: &Statistics,
    topic: &str,
    partition: i32,
    known: Option<Option<i64>>,
    next: i64,
) -> Result<Option<i64>, FlushError> {
    let stored = match known {
        Some(offset) => offset,
        None => shared::pipeline::load_offset(&deps.db, topic, partition).await?,
    };
    if stored.is_some_and(|stored| stored >= next) {
        return Ok(stored);
    }
    let txn = deps.db.begin().await.context("Failed to begin the skip")?;
    if !shared::pipeline::advance_offset(&txn, topic, partition, stored, next).await? {
        return Err(FlushError::Fenced);
    }
    txn.commit().await.context("Failed to commit the skip")?;
    Ok(Some(next))
}

/// One flush; returns the partition's next offset afterwards.
async fn flush(
    deps: &Statistics,
    topic: &str,
    partition: i32,
    known: Option<Option<i64>>,
    events: &[Recorded],
) -> Result<Option<i64>, FlushError> {
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
    if !shared::pipeline::advance_offset(&txn, topic, partition, stored, next).await? {
        return Err(FlushError::Fenced);
    }
    flush::insert_raw(&txn, &distinct).await?;
    flush::apply_catalogue(&txn, &distinct).await?;
    shared::pipeline::mark_processed(&txn, &distinct.iter().map(|e| e.event_id).collect::<Vec<_>>()).await?;
    // Shared statistic rows last: their locks are held only until the commit.
    flush::add(&txn, &inc).await?;
    txn.commit().await.context("Failed to commit the flush")?;
    deps.cache.invalidate_all().await;
    deps.metrics
        .events
        .with_label_values(&["applied"])
        .inc_by(distinct.len() as u64);
    Ok(Some(next))
}
