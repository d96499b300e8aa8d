//! Snapshots of the replicated model state: a header with the offset of every partition it
//! covers, and its chunks (encoded deltas whose sum is the state). Written in one transaction,
//! so a reader sees a snapshot whole or not at all; only the newest is kept.
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::deltas::arrays;
use super::statement;
use crate::model::delta::Delta;
use crate::model::replica::Replica;

/// Pairs per chunk: a few MB encoded, so no single row or allocation is huge.
pub const CHUNK_PAIRS: usize = 500_000;

/// `pg_try_advisory_xact_lock` key of the checkpointer ("snapshot" in ASCII).
pub const CHECKPOINT_LOCK: i64 = 0x736e_6170_7368_6f74;

/// A stored snapshot's header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub watermarks: BTreeMap<i32, i64>,
    pub chunks: i32,
    pub pairs: i64,
    pub bytes: i64,
}

/// A replica's state, encoded and ready to store.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub watermarks: BTreeMap<i32, i64>,
    pub chunks: Vec<Vec<u8>>,
    pub pairs: usize,
}

impl Encoded {
    /// Encodes chunks taken from a replica (CPU work: callers run it off the async threads).
    pub fn new(watermarks: BTreeMap<i32, i64>, chunks: &[Delta]) -> std::io::Result<Self> {
        Ok(Self {
            watermarks,
            pairs: chunks.iter().map(Delta::pairs).sum(),
            chunks: chunks.iter().map(Delta::encode).collect::<Result<_, _>>()?,
        })
    }

    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

/// Encodes and stores `replica` as the newest snapshot, deleting older ones (the migration
/// from the count tables; the checkpointer encodes separately).
pub async fn save(db: &impl ConnectionTrait, replica: &Replica, chunk_pairs: usize) -> anyhow::Result<i64> {
    let encoded = Encoded::new(replica.watermarks().clone(), &replica.chunks(chunk_pairs))
        .context("Failed to encode the snapshot")?;
    insert(db, &encoded).await
}

/// Stores an encoded snapshot and deletes older ones; its id.
pub async fn insert(db: &impl ConnectionTrait, snapshot: &Encoded) -> anyhow::Result<i64> {
    let (partitions, offsets) = arrays(&snapshot.watermarks);
    let sql = "INSERT INTO model_snapshots (partitions, offsets, chunks, pairs, bytes) \
               VALUES ($1, $2, $3, $4, $5) RETURNING id";
    let row = db
        .query_one(statement(
            sql,
            vec![
                partitions.into(),
                offsets.into(),
                (snapshot.chunks.len() as i32).into(),
                (snapshot.pairs as i64).into(),
                (snapshot.bytes() as i64).into(),
            ],
        ))
        .await
        .context("Failed to store the snapshot header")?
        .context("no snapshot id returned")?;
    let id: i64 = row.try_get("", "id")?;
    for (index, chunk) in snapshot.chunks.iter().enumerate() {
        let sql = "INSERT INTO model_snapshot_chunks (snapshot_id, chunk, data) VALUES ($1, $2, $3)";
        db.execute(statement(
            sql,
            vec![id.into(), (index as i32).into(), chunk.clone().into()],
        ))
        .await
        .context("Failed to store a snapshot chunk")?;
    }
    db.execute(statement(
        "DELETE FROM model_snapshots WHERE id < $1",
        vec![id.into()],
    ))
    .await
    .context("Failed to delete older snapshots")?;
    Ok(id)
}

/// The newest snapshot's header, if any.
pub async fn latest(db: &impl ConnectionTrait) -> anyhow::Result<Option<Header>> {
    let sql = "SELECT id, created_at, partitions, offsets, chunks, pairs, bytes FROM model_snapshots \
               ORDER BY id DESC LIMIT 1";
    let Some(row) = db
        .query_one(statement(sql, vec![]))
        .await
        .context("Failed to read the snapshot header")?
    else {
        return Ok(None);
    };
    let partitions: Vec<i32> = row.try_get("", "partitions")?;
    let offsets: Vec<i64> = row.try_get("", "offsets")?;
    anyhow::ensure!(
        partitions.len() == offsets.len(),
        "a snapshot header has {} partitions and {} offsets",
        partitions.len(),
        offsets.len()
    );
    Ok(Some(Header {
        id: row.try_get("", "id")?,
        created_at: row.try_get("", "created_at")?,
        watermarks: partitions.into_iter().zip(offsets).collect(),
        chunks: row.try_get("", "chunks")?,
        pairs: row.try_get("", "pairs")?,
        bytes: row.try_get("", "bytes")?,
    }))
}

/// One chunk of a snapshot, still encoded.
pub async fn chunk(db: &impl ConnectionTrait, snapshot: i64, chunk: i32) -> anyhow::Result<Vec<u8>> {
    let sql = "SELECT data FROM model_snapshot_chunks WHERE snapshot_id = $1 AND chunk = $2";
    let row = db
        .query_one(statement(sql, vec![snapshot.into(), chunk.into()]))
        .await
        .context("Failed to read a snapshot chunk")?
        .with_context(|| format!("chunk {chunk} of snapshot {snapshot} is missing"))?;
    Ok(row.try_get("", "data")?)
}
