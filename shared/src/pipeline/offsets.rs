//! Exactly-once bookkeeping for consumers that flush batches to Postgres (recommender,
//! analytics): the next offset of each partition, written in the flush transaction with a
//! compare-and-set that fences off a former owner, and the ids of events already applied, so a
//! duplicate delivered at a new offset changes nothing.
use std::collections::HashSet;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use uuid::Uuid;

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The next offset stored for a partition (`None`: never flushed).
pub async fn load_offset(
    db: &impl ConnectionTrait,
    topic: &str,
    partition: i32,
) -> anyhow::Result<Option<i64>> {
    let sql = "SELECT next_offset FROM partition_offsets WHERE topic = $1 AND partition = $2";
    let row = db
        .query_one(statement(sql, vec![topic.into(), partition.into()]))
        .await
        .context("Failed to load the offset")?;
    row.map(|r| r.try_get("", "next_offset"))
        .transpose()
        .map_err(Into::into)
}

/// Moves a partition's offset from `expected` to `next` if nobody else moved it: the fence that
/// keeps a former owner of the partition from writing after its successor.
pub async fn advance_offset(
    txn: &DatabaseTransaction,
    topic: &str,
    partition: i32,
    expected: Option<i64>,
    next: i64,
) -> anyhow::Result<bool> {
    let result = match expected {
        Some(expected) => {
            let sql = "UPDATE partition_offsets SET next_offset = $4 WHERE topic = $1 AND partition = $2 AND next_offset = $3";
            txn.execute(statement(
                sql,
                vec![topic.into(), partition.into(), expected.into(), next.into()],
            ))
            .await
        }
        None => {
            let sql = "INSERT INTO partition_offsets (topic, partition, next_offset) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
            txn.execute(statement(sql, vec![topic.into(), partition.into(), next.into()]))
                .await
        }
    };
    Ok(result.context("Failed to advance the offset")?.rows_affected() == 1)
}

/// Which of these event ids were applied before.
pub async fn processed(db: &impl ConnectionTrait, ids: &[Uuid]) -> anyhow::Result<HashSet<Uuid>> {
    let sql = "SELECT event_id FROM processed_events WHERE event_id = ANY($1)";
    let rows = db
        .query_all(statement(sql, vec![ids.to_vec().into()]))
        .await
        .context("Failed to check event ids")?;
    rows.iter()
        .map(|r| r.try_get("", "event_id").map_err(Into::into))
        .collect()
}

/// Records applied event ids (sorted: concurrent flushes lock index entries in one order).
pub async fn mark_processed(txn: &DatabaseTransaction, ids: &[Uuid]) -> anyhow::Result<()> {
    let mut sorted = ids.to_vec();
    sorted.sort();
    let sql = "INSERT INTO processed_events (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING";
    txn.execute(statement(sql, vec![sorted.into()]))
        .await
        .context("Failed to record event ids")?;
    Ok(())
}

/// Deletes processed event ids older than `retention_hours` (duplicates arrive within seconds
/// or minutes of the original; a week is a generous bound). Returns the rows deleted.
pub async fn prune_processed(db: &impl ConnectionTrait, retention_hours: u64) -> anyhow::Result<u64> {
    let sql = "DELETE FROM processed_events WHERE processed_at < now() - make_interval(hours => $1)";
    let result = db
        .execute(statement(sql, vec![(retention_hours as i32).into()]))
        .await
        .context("Failed to prune")?;
    Ok(result.rows_affected())
}
