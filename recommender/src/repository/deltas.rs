//! The delta records of flushes (`model_deltas`): written in the flush transaction, read by
//! every instance's replica in offset order, pruned once a snapshot covers them.
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::statement;

/// A stored delta record, still encoded.
#[derive(Debug, Clone)]
pub struct StoredDelta {
    pub partition: i32,
    /// Where it starts (`None`: the partition's first record).
    pub base: Option<i64>,
    pub next: i64,
    pub created_at: DateTime<Utc>,
    pub data: Vec<u8>,
}

/// Stores a flush's record for offsets `[base, next)` of `partition`.
pub async fn insert(
    txn: &DatabaseTransaction,
    partition: i32,
    base: Option<i64>,
    next: i64,
    pairs: usize,
    data: Vec<u8>,
) -> anyhow::Result<()> {
    let sql = "INSERT INTO model_deltas (partition, base_offset, next_offset, pairs, bytes, data) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    let values = vec![
        partition.into(),
        base.into(),
        next.into(),
        (pairs.min(i32::MAX as usize) as i32).into(),
        (data.len().min(i32::MAX as usize) as i32).into(),
        data.into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to store the delta")?;
    Ok(())
}

/// Where a stored record sits, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    pub partition: i32,
    pub base: Option<i64>,
    pub next: i64,
}

/// The heads of up to `limit` records past the watermarks, in offset order per partition.
pub async fn heads_after(
    db: &impl ConnectionTrait,
    watermarks: &BTreeMap<i32, i64>,
    limit: u64,
) -> anyhow::Result<Vec<RecordHead>> {
    let rows = rows_after(db, "d.partition, d.base_offset, d.next_offset", watermarks, limit)
        .await
        .context("Failed to read delta heads")?;
    rows.into_iter()
        .map(|row| {
            Ok(RecordHead {
                partition: row.try_get("", "partition")?,
                base: row.try_get("", "base_offset")?,
                next: row.try_get("", "next_offset")?,
            })
        })
        .collect()
}

/// These records, whole, in offset order per partition.
pub async fn fetch(db: &impl ConnectionTrait, heads: &[RecordHead]) -> anyhow::Result<Vec<StoredDelta>> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let partitions: Vec<i32> = heads.iter().map(|h| h.partition).collect();
    let nexts: Vec<i64> = heads.iter().map(|h| h.next).collect();
    let sql = "SELECT d.partition, d.base_offset, d.next_offset, d.created_at, d.data FROM model_deltas d \
               JOIN unnest($1::int[], $2::int8[]) AS w(p, n) ON w.p = d.partition AND w.n = d.next_offset \
               ORDER BY d.partition, d.next_offset";
    let rows = db
        .query_all(statement(sql, vec![partitions.into(), nexts.into()]))
        .await
        .context("Failed to read deltas")?;
    rows.into_iter().map(stored).collect()
}

fn stored(row: sea_orm::QueryResult) -> anyhow::Result<StoredDelta> {
    Ok(StoredDelta {
        partition: row.try_get("", "partition")?,
        base: row.try_get("", "base_offset")?,
        next: row.try_get("", "next_offset")?,
        created_at: row.try_get("", "created_at")?,
        data: row.try_get("", "data")?,
    })
}

/// Up to `limit` records past the watermarks (every record of a partition without one), in
/// offset order per partition.
pub async fn after(
    db: &impl ConnectionTrait,
    watermarks: &BTreeMap<i32, i64>,
    limit: u64,
) -> anyhow::Result<Vec<StoredDelta>> {
    let columns = "d.partition, d.base_offset, d.next_offset, d.created_at, d.data";
    let rows = rows_after(db, columns, watermarks, limit)
        .await
        .context("Failed to read deltas")?;
    rows.into_iter().map(stored).collect()
}

/// `columns` of up to `limit` records past the watermarks, in offset order per partition.
async fn rows_after(
    db: &impl ConnectionTrait,
    columns: &str,
    watermarks: &BTreeMap<i32, i64>,
    limit: u64,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    let (partitions, offsets) = arrays(watermarks);
    let sql = format!(
        "SELECT {columns} FROM model_deltas d \
         WHERE NOT EXISTS (SELECT 1 FROM unnest($1::int[], $2::int8[]) AS w(p, o) \
                           WHERE w.p = d.partition AND d.next_offset <= w.o) \
         ORDER BY d.partition, d.next_offset LIMIT $3"
    );
    db.query_all(statement(
        &sql,
        vec![partitions.into(), offsets.into(), (limit as i64).into()],
    ))
    .await
}

/// Deletes records covered by the watermarks and older than `keep_seconds` (replicas that lag
/// less than that still find them; one that lags more reloads from the snapshot). Returns the
/// number deleted.
pub async fn prune(
    db: &impl ConnectionTrait,
    watermarks: &BTreeMap<i32, i64>,
    keep_seconds: u64,
) -> anyhow::Result<u64> {
    let (partitions, offsets) = arrays(watermarks);
    let sql = "DELETE FROM model_deltas d USING unnest($1::int[], $2::int8[]) AS w(p, o) \
               WHERE d.partition = w.p AND d.next_offset <= w.o \
               AND d.created_at < now() - make_interval(secs => $3)";
    let result = db
        .execute(statement(
            sql,
            vec![partitions.into(), offsets.into(), (keep_seconds as f64).into()],
        ))
        .await
        .context("Failed to prune deltas")?;
    Ok(result.rows_affected())
}

/// Records and bytes not covered by the watermarks (what a restore from that snapshot reads).
pub async fn backlog(
    db: &impl ConnectionTrait,
    watermarks: &BTreeMap<i32, i64>,
) -> anyhow::Result<(i64, i64)> {
    let (partitions, offsets) = arrays(watermarks);
    let sql = "SELECT count(*) AS records, COALESCE(sum(bytes), 0)::int8 AS bytes FROM model_deltas d \
               WHERE NOT EXISTS (SELECT 1 FROM unnest($1::int[], $2::int8[]) AS w(p, o) \
                                 WHERE w.p = d.partition AND d.next_offset <= w.o)";
    let row = db
        .query_one(statement(sql, vec![partitions.into(), offsets.into()]))
        .await
        .context("Failed to measure the delta backlog")?
        .context("no backlog row")?;
    Ok((row.try_get("", "records")?, row.try_get("", "bytes")?))
}

/// Watermarks as two parallel arrays for `unnest`.
pub(super) fn arrays(watermarks: &BTreeMap<i32, i64>) -> (Vec<i32>, Vec<i64>) {
    watermarks.iter().map(|(p, o)| (*p, *o)).unzip()
}
