//! This instance's replica of the model state, and what keeps it current:
//!
//! - **Restore** (start-up): the newest snapshot, then every later delta record in offset order.
//! - **Own deltas** are applied right after their flush commits ([`SharedReplica::apply_own`]).
//! - **Sync**: a short poll (`replica_poll_ms`, or at once when woken) reads the records past the
//!   replica's watermarks, those of partitions other instances own among them, and applies them
//!   in offset order. A record that starts past a watermark (pruned before this instance read
//!   it) makes the replica reload from the snapshot.
//! - **Checkpoint**: one instance at a time (an advisory lock) writes the replica as the newest
//!   snapshot, tagged with its watermarks, and prunes the records it covers.
//!
//! A record that cannot be decoded or applied stops applying for good (the replica would be
//! wrong from there on): `/ready` answers 503 naming it, the error is logged, and the metric
//! `replica_apply_stopped` turns 1. Nothing is ever skipped silently.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use tokio::sync::Notify;

use crate::metrics::ReplicaMetrics;
use crate::model::delta::Delta;
use crate::model::replica::{Applied, ApplyError, Replica};
use crate::model::ModelParams;
use crate::repository::deltas::{self, RecordHead, StoredDelta};
use crate::repository::snapshots::{self, Encoded, CHECKPOINT_LOCK, CHUNK_PAIRS};

/// Records read per database round trip while syncing (bounds memory during a catch-up).
const SYNC_BATCH: u64 = 32;

/// Longest [`SharedReplica::catch_up`] waits for a partition's records.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// The replica and its keepers; cheap to clone.
#[derive(Clone)]
pub struct SharedReplica {
    inner: Arc<Inner>,
}

struct Inner {
    replica: RwLock<Replica>,
    params: ModelParams,
    db: DatabaseConnection,
    /// Why applying stopped, once it did.
    stopped: Mutex<Option<String>>,
    /// One sync at a time (the poll loop and catch-ups).
    syncing: tokio::sync::Mutex<()>,
    wake: Notify,
    metrics: ReplicaMetrics,
}

impl SharedReplica {
    /// Restores the replica from the database (snapshot, then later records).
    pub async fn restore(
        db: DatabaseConnection,
        params: ModelParams,
        metrics: ReplicaMetrics,
    ) -> anyhow::Result<Self> {
        let started = Instant::now();
        let Restored { replica, stopped } = load(&db, &params).await?;
        metrics.restore_seconds.set(started.elapsed().as_secs_f64());
        let stats = replica.stats();
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            pairs = stats.pairs,
            items = stats.items,
            watermarks = ?replica.watermarks(),
            "replica restored"
        );
        let shared = Self {
            inner: Arc::new(Inner {
                replica: RwLock::new(replica),
                params,
                db,
                stopped: Mutex::new(None),
                syncing: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                metrics,
            }),
        };
        shared.record_size();
        if let Some(reason) = stopped {
            shared.stop(reason);
        }
        Ok(shared)
    }

    /// Reads the replica (hold it briefly: appliers wait meanwhile).
    pub fn read(&self) -> RwLockReadGuard<'_, Replica> {
        // A poisoned lock only means a panic elsewhere; every write is applied whole or not.
        self.inner.replica.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Replica> {
        self.inner.replica.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The model parameters the replica was built for.
    pub fn params(&self) -> &ModelParams {
        &self.inner.params
    }

    /// `Err(reason)` once applying stopped on a bad record (for `/ready`).
    pub fn check(&self) -> Result<(), String> {
        match &*self.inner.stopped.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    fn stop(&self, reason: String) {
        tracing::error!(reason = %reason, "the replica stopped applying deltas; this instance serves what it has and is not ready");
        self.inner.metrics.stopped.set(1);
        *self.inner.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    /// Applies this instance's own delta right after its flush committed. If the replica is not
    /// at the delta's start (it has not read the partition's earlier records yet), the sync
    /// loop is woken and applies it from the database in order.
    pub fn apply_own(&self, partition: i32, base: Option<i64>, next: i64, delta: &Delta) {
        if self.check().is_err() {
            return;
        }
        let result = self.write().apply(partition, base, next, delta);
        match result {
            Ok(Applied::Applied) => {
                self.inner.metrics.applied.with_label_values(&["own"]).inc();
                self.record_size();
            }
            Ok(Applied::AlreadyApplied) => {}
            Err(ApplyError::Gap { .. }) => self.inner.wake.notify_one(),
            Err(e @ ApplyError::ItemOutOfRange(_)) => {
                self.stop(format!("own delta of partition {partition} up to {next}: {e}"))
            }
        }
    }

    /// Waits until the replica covers `partition` up to `until` (a partition this instance
    /// just took over: its lists are built from a replica that holds its previous owner's
    /// deltas).
    pub async fn catch_up(&self, partition: i32, until: Option<i64>) -> anyhow::Result<()> {
        let Some(until) = until else { return Ok(()) };
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            if self.read().watermark(partition).is_some_and(|w| w >= until) {
                return Ok(());
            }
            self.check().map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "the replica did not reach offset {until} of partition {partition} in time"
            );
            self.sync().await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads and applies every record past the watermarks; how many were applied.
    pub async fn sync(&self) -> anyhow::Result<usize> {
        let _one = self.inner.syncing.lock().await;
        let mut applied = 0;
        loop {
            if self.check().is_err() {
                return Ok(applied);
            }
            let watermarks = self.read().watermarks().clone();
            let heads = deltas::heads_after(&self.inner.db, &watermarks, SYNC_BATCH).await?;
            let count = heads.len();
            // This instance's own records are usually applied by their flush meanwhile: fetch
            // (megabytes each under load) only what is still missing.
            let missing: Vec<RecordHead> = {
                let replica = self.read();
                heads
                    .into_iter()
                    .filter(|h| replica.watermark(h.partition).is_none_or(|w| w < h.next))
                    .collect()
            };
            let records = deltas::fetch(&self.inner.db, &missing).await?;
            let decoded = decode_all(records).await?;
            match self.apply_records(&decoded) {
                Ok(n) => applied += n,
                Err(ApplyError::Gap {
                    partition,
                    watermark,
                    base,
                }) => {
                    tracing::warn!(partition, ?watermark, ?base, "delta records were pruned before this replica read them; reloading from the snapshot");
                    self.reload().await?;
                    return Ok(applied);
                }
                Err(e) => {
                    self.stop(format!("a delta record cannot be applied: {e}"));
                    return Ok(applied);
                }
            }
            if count < SYNC_BATCH as usize {
                if applied > 0 {
                    self.record_size();
                }
                return Ok(applied);
            }
        }
    }

    /// Applies decoded records in order under one write lock.
    fn apply_records(&self, records: &[(StoredDelta, Result<Delta, String>)]) -> Result<usize, ApplyError> {
        let mut replica = self.write();
        let mut applied = 0;
        let now = Utc::now();
        for (record, delta) in records {
            let delta = match delta {
                Ok(delta) => delta,
                Err(reason) => {
                    drop(replica);
                    self.stop(format!(
                        "delta record of partition {} up to offset {} does not decode: {reason}",
                        record.partition, record.next
                    ));
                    return Ok(applied);
                }
            };
            match replica.apply(record.partition, record.base, record.next, delta) {
                Ok(Applied::Applied) => {
                    applied += 1;
                    self.inner.metrics.applied.with_label_values(&["database"]).inc();
                    let delay = (now - record.created_at).num_milliseconds().max(0) as f64 / 1000.0;
                    self.inner.metrics.apply_delay.observe(delay);
                }
                Ok(Applied::AlreadyApplied) => {}
                Err(e @ ApplyError::ItemOutOfRange(_)) => {
                    drop(replica);
                    self.stop(format!(
                        "delta record of partition {} up to offset {} cannot be applied: {e}",
                        record.partition, record.next
                    ));
                    return Ok(applied);
                }
                Err(gap) => return Err(gap),
            }
        }
        Ok(applied)
    }

    /// Replaces the replica with a fresh restore (after a gap).
    async fn reload(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let Restored {
            replica: mut fresh,
            stopped,
        } = load(&self.inner.db, &self.inner.params).await?;
        {
            let mut replica = self.write();
            // Caches compare versions: the new replica's must be newer than anything before.
            fresh.renumber(replica.version());
            *replica = fresh;
        }
        self.inner
            .metrics
            .restore_seconds
            .set(started.elapsed().as_secs_f64());
        self.record_size();
        if let Some(reason) = stopped {
            self.stop(reason);
        }
        Ok(())
    }

    fn record_size(&self) {
        let stats = self.read().stats();
        let metrics = &self.inner.metrics;
        metrics.items.set(stats.items as i64);
        metrics.pairs.set(stats.pairs as i64);
        metrics.bytes.set(stats.bytes as i64);
    }

    /// Syncs every `poll` (or at once when woken) for as long as the process runs.
    pub fn start_sync(&self, poll: Duration) {
        let shared = self.clone();
        actix_web::rt::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(poll) => {}
                    () = shared.inner.wake.notified() => {}
                }
                if let Err(e) = shared.sync().await {
                    tracing::warn!(error.cause_chain = ?e, "replica sync failed; retrying");
                    tokio::time::sleep(poll.max(Duration::from_millis(500))).await;
                }
            }
        });
    }

    /// Checkpoints every `interval` (0: never) for as long as the process runs; records stay
    /// `keep` after a snapshot covers them.
    pub fn start_checkpointer(&self, interval: Duration, keep: Duration) {
        if interval.is_zero() {
            return;
        }
        let shared = self.clone();
        actix_web::rt::spawn(async move {
            let mut last: Option<BTreeMap<i32, i64>> = None;
            loop {
                tokio::time::sleep(interval).await;
                match shared.checkpoint(last.as_ref(), keep).await {
                    Ok(written) => last = written.or(last),
                    Err(e) => tracing::warn!(error.cause_chain = ?e, "checkpoint failed; trying again later"),
                }
            }
        });
    }

    /// Writes a snapshot unless nothing changed since `last` or another instance's snapshot
    /// is at least as far; prunes covered records; the watermarks written, if any.
    pub async fn checkpoint(
        &self,
        last: Option<&BTreeMap<i32, i64>>,
        keep: Duration,
    ) -> anyhow::Result<Option<BTreeMap<i32, i64>>> {
        let db = &self.inner.db;
        let taken = {
            let replica = self.read();
            let watermarks = replica.watermarks();
            (!watermarks.is_empty() && Some(watermarks) != last)
                .then(|| (watermarks.clone(), replica.chunks(CHUNK_PAIRS)))
        };
        let encoded = match taken {
            Some((watermarks, chunks)) => Some(
                tokio::task::spawn_blocking(move || Encoded::new(watermarks, &chunks))
                    .await
                    .context("the snapshot encoder stopped")?
                    .context("Failed to encode the snapshot")?,
            ),
            None => None,
        };
        let txn = db.begin().await.context("Failed to begin a checkpoint")?;
        let locked = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                vec![CHECKPOINT_LOCK.into()],
            ))
            .await
            .context("Failed to take the checkpoint lock")?
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            return Ok(None);
        }
        let latest = snapshots::latest(&txn).await?;
        let mut written = None;
        if let Some(encoded) = encoded {
            let newer = latest.as_ref().is_none_or(|l| {
                covers(&encoded.watermarks, &l.watermarks) && encoded.watermarks != l.watermarks
            });
            if newer {
                snapshots::insert(&txn, &encoded).await?;
                self.inner.metrics.snapshots_written.inc();
                self.inner.metrics.snapshot_bytes.set(encoded.bytes() as i64);
                tracing::info!(bytes = encoded.bytes(), pairs = encoded.pairs, watermarks = ?encoded.watermarks, "snapshot written");
                written = Some(encoded.watermarks);
            }
        }
        let covered = written
            .clone()
            .or_else(|| latest.as_ref().map(|l| l.watermarks.clone()));
        if let Some(covered) = &covered {
            let pruned = deltas::prune(&txn, covered, keep.as_secs()).await?;
            let (records, bytes) = deltas::backlog(&txn, covered).await?;
            self.inner.metrics.backlog.set(records);
            self.inner.metrics.backlog_bytes.set(bytes);
            if pruned > 0 {
                tracing::debug!(pruned, "delta records folded into the snapshot deleted");
            }
        }
        txn.commit().await.context("Failed to commit a checkpoint")?;
        let age = match (&written, &latest) {
            (Some(_), _) => 0.0,
            (None, Some(l)) => (Utc::now() - l.created_at).num_milliseconds() as f64 / 1000.0,
            (None, None) => -1.0,
        };
        self.inner.metrics.snapshot_age.set(age);
        Ok(written)
    }
}

/// True if `ours` is at or past `theirs` for every partition `theirs` knows.
fn covers(ours: &BTreeMap<i32, i64>, theirs: &BTreeMap<i32, i64>) -> bool {
    theirs
        .iter()
        .all(|(p, o)| ours.get(p).is_some_and(|mine| mine >= o))
}

/// Decodes records off the async threads; a record that does not decode keeps its reason.
async fn decode_all(records: Vec<StoredDelta>) -> anyhow::Result<Vec<(StoredDelta, Result<Delta, String>)>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        records
            .into_iter()
            .map(|record| {
                let delta = Delta::decode(&record.data).map_err(|e| e.to_string());
                (record, delta)
            })
            .collect()
    })
    .await
    .context("the delta decoder stopped")
}

/// What a restore read: the replica, and why it stopped early if a record was bad.
pub struct Restored {
    pub replica: Replica,
    pub stopped: Option<String>,
}

/// The state in the database: the newest snapshot plus every later record, up to the first
/// record that cannot be decoded or applied, if any (database errors are errors: try again).
pub async fn load(db: &impl ConnectionTrait, params: &ModelParams) -> anyhow::Result<Restored> {
    // A snapshot replaced while its chunks are read is deleted: start over with the newer one.
    let mut attempts = 0;
    let mut replica = loop {
        attempts += 1;
        match load_snapshot(db, params).await {
            Ok(Ok(replica)) => break replica,
            Ok(Err(stopped)) => {
                return Ok(Restored {
                    replica: Replica::new(params),
                    stopped: Some(stopped),
                })
            }
            Err(e) if attempts < 3 => {
                tracing::warn!(error.cause_chain = ?e, "snapshot changed while loading; again")
            }
            Err(e) => return Err(e),
        }
    };
    loop {
        let records = deltas::after(db, replica.watermarks(), SYNC_BATCH).await?;
        let count = records.len();
        for record in records {
            let applied = Delta::decode(&record.data)
                .map_err(|e| e.to_string())
                .and_then(|delta| {
                    replica
                        .apply(record.partition, record.base, record.next, &delta)
                        .map_err(|e| e.to_string())
                });
            if let Err(reason) = applied {
                let stopped = format!(
                    "delta record of partition {} up to offset {}: {reason}",
                    record.partition, record.next
                );
                return Ok(Restored {
                    replica,
                    stopped: Some(stopped),
                });
            }
        }
        if count < SYNC_BATCH as usize {
            return Ok(Restored {
                replica,
                stopped: None,
            });
        }
    }
}

/// The newest snapshot (an empty replica without one); `Ok(Err(reason))` if a chunk is bad.
async fn load_snapshot(
    db: &impl ConnectionTrait,
    params: &ModelParams,
) -> anyhow::Result<Result<Replica, String>> {
    let Some(header) = snapshots::latest(db).await? else {
        return Ok(Ok(Replica::new(params)));
    };
    let mut replica = Replica::new(params);
    for chunk in 0..header.chunks {
        let bytes = snapshots::chunk(db, header.id, chunk).await?;
        let added = Delta::decode(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|delta| replica.add_chunk(&delta).map_err(|e| e.to_string()));
        if let Err(reason) = added {
            return Ok(Err(format!("chunk {chunk} of snapshot {}: {reason}", header.id)));
        }
    }
    replica.set_watermarks(header.watermarks);
    Ok(Ok(replica))
}
