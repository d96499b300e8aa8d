//! The `user_actions` pipeline ([`shared::pipeline`]): every assigned partition buffers its
//! events; a flush (every `flush_interval_ms`, on revoke and on shutdown) applies them to the
//! users' sequences and writes, in ONE transaction: the partition's next offset (a
//! compare-and-set that fences off a former owner), one delta record with the batch's count
//! increments, the touched users' sequences, the processed event ids and the touched users'
//! recomputed lists (built from the replica plus this delta). After the commit the delta is
//! applied to this instance's replica (other instances read it from the database) and the lists
//! go to Redis. Events below the stored offset, and event ids seen before, change nothing: every
//! event's effect is applied exactly once.
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sea_orm::{DatabaseConnection, TransactionTrait};
use shared::events::action::{ActionKind, UserAction};
use shared::events::topics;
use shared::kafka::consumer::RawEvent;
use shared::pipeline::{FlushError, PartitionKey, Pipeline, PipelineSettings};
use uuid::Uuid;

use crate::configuration::RecommenderSettings;
use crate::domain::builder::{Inputs, RankingCache};
use crate::domain::catalogue::Catalogue;
use crate::domain::list::RecommendationList;
use crate::metrics::RecommenderMetrics;
use crate::model::aggregator::Aggregator;
use crate::model::delta::Delta;
use crate::model::popularity;
use crate::model::replica::Overlay;
use crate::model::score::{Counts, Scratch};
use crate::model::sequence::{Interaction, UserSequence};
use crate::model::Item;
use crate::replication::SharedReplica;
use crate::repository::cache::ListCache;
use crate::repository::{deltas, lists, sequences};

/// The pipeline: what every partition's flush uses.
#[derive(Clone)]
pub struct Actions {
    pub db: DatabaseConnection,
    pub cache: ListCache,
    pub replica: SharedReplica,
    pub rankings: RankingCache,
    pub catalogue: Catalogue,
    pub settings: Arc<RecommenderSettings>,
    pub metrics: RecommenderMetrics,
}

/// One decoded action with its place in the partition.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionEvent {
    pub event_id: Uuid,
    pub offset: i64,
    pub user: Uuid,
    pub product: Uuid,
    pub action: ActionKind,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
    /// Kafka timestamp (ms), for the freshness metric.
    pub produced_ms: Option<i64>,
}

#[async_trait::async_trait(?Send)]
impl Pipeline for Actions {
    type Event = ActionEvent;
    type State = Core;

    fn settings(&self) -> PipelineSettings {
        PipelineSettings {
            flush_interval: Duration::from_millis(self.settings.flush_interval_ms),
            max_buffered: self.settings.max_buffered_events,
        }
    }

    fn decode(&self, event: &RawEvent) -> Result<ActionEvent, String> {
        let envelope = shared::events::decode_as::<UserAction>(event.payload())
            .map_err(|e| format!("not a user_action event: {e}"))?;
        let action = envelope.payload;
        action.check(Utc::now())?;
        Ok(ActionEvent {
            event_id: envelope.event_id,
            offset: event.offset(),
            user: action.user_id,
            product: action.product_id,
            action: action.action,
            value: action.value,
            occurred_at: action.occurred_at,
            produced_ms: event.timestamp_ms(),
        })
    }

    fn state(&self, _: &PartitionKey) -> Core {
        Core::new(&self.settings)
    }

    async fn flush(
        &self,
        core: &mut Core,
        partition: &PartitionKey,
        events: &[ActionEvent],
    ) -> Result<Option<i64>, FlushError> {
        flush(core, events, self, partition.partition).await
    }

    async fn skip(
        &self,
        core: &mut Core,
        partition: &PartitionKey,
        next_offset: i64,
    ) -> Result<(), FlushError> {
        skip(core, self, partition.partition, next_offset).await
    }

    async fn maintain(&self) {
        let retention = self.settings.processed_event_retention_hours;
        match shared::pipeline::prune_processed(&self.db, retention).await {
            Ok(rows) => tracing::info!(rows, "pruned processed event ids"),
            Err(e) => tracing::warn!(error.cause_chain = ?e, "pruning processed event ids failed"),
        }
    }
}

impl Actions {
    /// Drops a deleted user's sequence from every partition this instance holds.
    pub async fn forget_user(handle: &shared::pipeline::PipelineHandle<Actions>, user: Uuid) {
        handle.visit_all(move |core: &mut Core| core.forget(user)).await;
    }
}

/// The model state of one partition.
pub struct Core {
    model: Aggregator<Uuid>,
    scratch: Scratch,
    /// The partition's next offset in Postgres (`None` until read).
    next_offset: Option<i64>,
    loaded: bool,
    /// Flushes committed so far, and the last one that touched each user held in memory.
    flushes: u64,
    last_flush: FxHashMap<Uuid, u64>,
}

impl Core {
    fn new(settings: &RecommenderSettings) -> Self {
        Self {
            model: Aggregator::new(settings.model.clone()),
            scratch: Scratch::default(),
            next_offset: None,
            loaded: false,
            flushes: 0,
            last_flush: FxHashMap::default(),
        }
    }

    /// Notes the users a committed flush touched, and forgets the longest idle ones beyond
    /// `capacity` (their sequences are stored: they are loaded again at their next event).
    fn remember(&mut self, users: &[Uuid], capacity: usize) {
        self.flushes += 1;
        for user in users {
            self.last_flush.insert(*user, self.flushes);
        }
        if self.last_flush.len() <= capacity {
            return;
        }
        // Down to 90 %: eviction runs once per many flushes, not at every one.
        let keep = capacity * 9 / 10;
        let mut idle: Vec<(u64, Uuid)> = self.last_flush.iter().map(|(u, f)| (*f, *u)).collect();
        idle.sort_unstable();
        for (_, user) in idle.into_iter().take(self.last_flush.len() - keep) {
            self.model.forget(&user);
            self.last_flush.remove(&user);
        }
    }

    /// Drops a deleted user's sequence.
    fn forget(&mut self, user: Uuid) {
        self.model.forget(&user);
        self.last_flush.remove(&user);
    }
}

/// What the pure part of a flush produced.
#[derive(Debug, Default)]
pub struct Applied {
    /// Ids of the events applied (first deliveries only).
    pub event_ids: Vec<Uuid>,
    pub counts: Counts,
    /// Popularity increments as logarithms (see `model::popularity`).
    pub popularity: FxHashMap<Item, f64>,
    /// Users whose sequences changed.
    pub touched: Vec<Uuid>,
    /// The offset after the last event considered (`None`: nothing at or after the floor).
    pub next_offset: Option<i64>,
    /// Events skipped: below the floor (redeliveries) or ids applied before (duplicates).
    pub skipped: usize,
    /// Kafka timestamps of the applied events (freshness).
    pub produced_ms: Vec<i64>,
}

/// The deterministic heart of a flush: applies the events at or after `floor` (the stored next
/// offset), in offset order, skipping ids in `processed` and repeats within the batch, to
/// `model` (whose users' sequences must already be loaded), and takes the increments.
pub fn apply_batch(
    model: &mut Aggregator<Uuid>,
    events: &[ActionEvent],
    floor: i64,
    processed: &HashSet<Uuid>,
    items: &HashMap<Uuid, Item>,
    settings: &RecommenderSettings,
) -> Applied {
    let mut batch: Vec<&ActionEvent> = events.iter().filter(|e| e.offset >= floor).collect();
    batch.sort_by_key(|e| e.offset);
    let next_offset = batch.last().map(|e| e.offset + 1);
    let mut fresh = HashSet::new();
    batch.retain(|e| !processed.contains(&e.event_id) && fresh.insert(e.event_id));
    let half_life_ms = settings.popularity_half_life_hours * 3_600_000.0;
    let mut popularity: FxHashMap<Item, f64> = FxHashMap::default();
    for event in &batch {
        let Some(&item) = items.get(&event.product) else {
            continue;
        };
        let weight = settings.weights.of(event.action, event.value);
        let time = event.occurred_at.timestamp_millis();
        let interaction = Interaction {
            item,
            time,
            strength: weight,
            exclude: settings.excludes(event.action),
            kind: kind_index(event.action),
        };
        // Popularity counts a user's action of one kind on one item once (500 purchases of one
        // product in one request weigh as one): repeats only refresh the user's sequence.
        if model.observe(event.user, interaction) {
            if let Some(term) = popularity::term(weight, time, half_life_ms) {
                let sum = popularity.entry(item).or_insert(popularity::NONE);
                *sum = popularity::add(*sum, term);
            }
        }
    }
    let (counts, touched) = model.take();
    Applied {
        event_ids: batch.iter().map(|e| e.event_id).collect(),
        counts,
        popularity,
        touched,
        next_offset,
        skipped: events.len() - batch.len(),
        produced_ms: batch.iter().filter_map(|e| e.produced_ms).collect(),
    }
}

/// Before a partition's first flush: its stored offset, and the replica caught up to it.
async fn load(core: &mut Core, deps: &Actions, partition: i32) -> Result<(), FlushError> {
    if !core.loaded {
        let stored = shared::pipeline::load_offset(&deps.db, topics::USER_ACTIONS, partition).await?;
        // Lists are built from the replica: it must hold what this partition committed so far
        // (under a previous owner, too).
        deps.replica.catch_up(partition, stored).await?;
        core.next_offset = stored;
        core.loaded = true;
    }
    Ok(())
}

/// Begins a flush's transaction with the partition's offset moved from the state's to `next`
/// (compare-and-set): `Fenced` if another owner moved it meanwhile.
async fn begin_fenced(
    deps: &Actions,
    core: &Core,
    partition: i32,
    next_offset: i64,
) -> Result<sea_orm::DatabaseTransaction, FlushError> {
    let txn = deps.db.begin().await.context("Failed to begin the flush")?;
    let moved = shared::pipeline::advance_offset(
        &txn,
        topics::USER_ACTIONS,
        partition,
        core.next_offset,
        next_offset,
    )
    .await?;
    if moved {
        Ok(txn)
    } else {
        Err(FlushError::Fenced)
    }
}

/// Moves the offset past a dead-lettered event with an empty delta record, so that replicas
/// still see an unbroken chain of records.
async fn skip(core: &mut Core, deps: &Actions, partition: i32, next_offset: i64) -> Result<(), FlushError> {
    load(core, deps, partition).await?;
    if core.next_offset.is_some_and(|stored| stored >= next_offset) {
        return Ok(());
    }
    let delta = Delta::default();
    let encoded = delta.encode().context("Failed to encode the delta")?;
    let txn = begin_fenced(deps, core, partition, next_offset).await?;
    deltas::insert(&txn, partition, core.next_offset, next_offset, 0, encoded).await?;
    txn.commit().await.context("Failed to commit the skip")?;
    deps.replica
        .apply_own(partition, core.next_offset, next_offset, &delta);
    core.next_offset = Some(next_offset);
    Ok(())
}

async fn flush(
    core: &mut Core,
    events: &[ActionEvent],
    deps: &Actions,
    partition: i32,
) -> Result<Option<i64>, FlushError> {
    load(core, deps, partition).await?;
    let floor = core.next_offset.unwrap_or(0);
    let fresh: Vec<&ActionEvent> = events.iter().filter(|e| e.offset >= floor).collect();
    if fresh.is_empty() {
        deps.metrics
            .events
            .with_label_values(&["skipped"])
            .inc_by(events.len() as u64);
        return Ok(None);
    }
    let processed =
        shared::pipeline::processed(&deps.db, &fresh.iter().map(|e| e.event_id).collect::<Vec<_>>()).await?;
    let items = deps
        .catalogue
        .intern(&fresh.iter().map(|e| e.product).collect::<Vec<_>>())
        .await?;
    let mut users: Vec<Uuid> = fresh.iter().map(|e| e.user).collect();
    users.sort();
    users.dedup();
    let unknown: Vec<Uuid> = users.iter().filter(|u| !core.model.knows(u)).copied().collect();
    for (user, sequence) in sequences::load(&deps.db, &unknown).await? {
        core.model.restore(user, sequence);
    }
    // Undo information: the sequences as they were, for a failed transaction.
    let before: HashMap<Uuid, Option<UserSequence>> =
        users.iter().map(|u| (*u, core.model.user(u).cloned())).collect();
    let applied = apply_batch(&mut core.model, events, floor, &processed, &items, &deps.settings);
    deps.metrics
        .events
        .with_label_values(&["skipped"])
        .inc_by(applied.skipped as u64);
    let result = commit(core, &applied, deps, partition).await;
    match &result {
        Ok(_) => core.remember(&users, deps.settings.sequences_in_memory),
        Err(_) => {
            for (user, sequence) in before {
                match sequence {
                    Some(sequence) => core.model.restore(user, sequence),
                    None => core.model.forget(&user),
                }
            }
        }
    }
    result
}

/// Writes a flush in one transaction, then applies its delta to the replica and the lists to
/// Redis.
async fn commit(
    core: &mut Core,
    applied: &Applied,
    deps: &Actions,
    partition: i32,
) -> Result<Option<i64>, FlushError> {
    let settings = &deps.settings;
    let Some(next_offset) = applied.next_offset else {
        return Ok(None);
    };
    // Written even when empty (a batch of duplicates): every offset range has its record, so
    // replicas see an unbroken chain.
    let delta = Delta::new(&applied.counts, &applied.popularity);
    let encoded = delta.encode().context("Failed to encode the delta")?;
    let touched: Vec<(Uuid, &UserSequence)> = applied
        .touched
        .iter()
        .filter_map(|u| core.model.user(u).map(|s| (*u, s)))
        .collect();
    let profiles: Vec<(Option<&UserSequence>, Vec<String>)> = touched
        .iter()
        .map(|(u, s)| (Some(*s), deps.catalogue.interests(*u)))
        .collect();
    let rankings = deps.rankings.get(&deps.replica, &deps.catalogue);
    let overlay = Overlay::new(&delta, &deps.replica.read());
    let inputs = Inputs::new(
        &deps.replica,
        Some(&overlay),
        rankings,
        &deps.catalogue,
        &profiles,
        &settings.model,
    );
    let built: Vec<(Uuid, RecommendationList)> = touched
        .iter()
        .zip(&profiles)
        .map(|((user, sequence), (_, interests))| {
            let list = inputs.build(
                Some(sequence),
                interests,
                &deps.catalogue,
                &settings.model,
                settings.list_length,
                &mut core.scratch,
            );
            (*user, list)
        })
        .collect();
    let refs: Vec<(Uuid, &RecommendationList)> = built.iter().map(|(u, l)| (*u, l)).collect();
    let txn = begin_fenced(deps, core, partition, next_offset).await?;
    deltas::insert(
        &txn,
        partition,
        core.next_offset,
        next_offset,
        delta.pairs(),
        encoded,
    )
    .await?;
    sequences::save(&txn, &touched).await?;
    shared::pipeline::mark_processed(&txn, &applied.event_ids).await?;
    lists::save(&txn, &refs, lists::Write::Always).await?;
    txn.commit().await.context("Failed to commit the flush")?;
    deps.replica
        .apply_own(partition, core.next_offset, next_offset, &delta);
    core.next_offset = Some(next_offset);
    deps.cache.put(&refs).await;
    record(deps, applied, refs.len());
    Ok(Some(next_offset))
}

/// After a commit: metrics.
fn record(deps: &Actions, applied: &Applied, users: usize) {
    let now = Utc::now().timestamp_millis();
    for produced in &applied.produced_ms {
        deps.metrics
            .freshness
            .observe((now - produced).max(0) as f64 / 1000.0);
    }
    deps.metrics
        .events
        .with_label_values(&["applied"])
        .inc_by(applied.event_ids.len() as u64);
    deps.metrics.flushed_users.observe(users as f64);
}

/// The bit of an action kind in a sequence's counted kinds.
pub fn kind_index(kind: ActionKind) -> u8 {
    ActionKind::ALL
        .iter()
        .position(|k| *k == kind)
        .map_or(7, |i| i as u8)
}
