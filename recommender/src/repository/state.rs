//! The model's durable state.
use std::collections::{HashMap, HashSet};

use anyhow::Context;
use rustc_hash::FxHashMap;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::statement;
use crate::model::score::{pair_of, Counts};
use crate::model::sequence::UserSequence;
use crate::model::Item;

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

/// The stored sequences of these users.
pub async fn load_sequences(
    db: &impl ConnectionTrait,
    users: &[Uuid],
) -> anyhow::Result<HashMap<Uuid, UserSequence>> {
    let sql = "SELECT user_id, state FROM user_sequences WHERE user_id = ANY($1)";
    let rows = db
        .query_all(statement(sql, vec![users.to_vec().into()]))
        .await
        .context("Failed to load sequences")?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let state: serde_json::Value = row.try_get("", "state")?;
        out.insert(
            row.try_get("", "user_id")?,
            serde_json::from_value(state).context("A stored sequence does not decode")?,
        );
    }
    Ok(out)
}

/// Writes these users' sequences.
pub async fn save_sequences(
    txn: &DatabaseTransaction,
    sequences: &[(Uuid, &UserSequence)],
) -> anyhow::Result<()> {
    let mut sorted: Vec<&(Uuid, &UserSequence)> = sequences.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let ids: Vec<Uuid> = sorted.iter().map(|(id, _)| *id).collect();
    let states: Vec<serde_json::Value> = sorted
        .iter()
        .map(|(_, s)| serde_json::to_value(s))
        .collect::<Result<_, _>>()?;
    let sql = "INSERT INTO user_sequences (user_id, state) SELECT * FROM UNNEST($1::uuid[], $2::jsonb[]) \
               ON CONFLICT (user_id) DO UPDATE SET state = EXCLUDED.state";
    txn.execute(statement(sql, vec![ids.into(), states.into()]))
        .await
        .context("Failed to save sequences")?;
    Ok(())
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

/// Records applied event ids.
pub async fn mark_processed(txn: &DatabaseTransaction, ids: &[Uuid]) -> anyhow::Result<()> {
    let mut sorted = ids.to_vec();
    sorted.sort();
    let sql = "INSERT INTO processed_events (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING";
    txn.execute(statement(sql, vec![sorted.into()]))
        .await
        .context("Failed to record event ids")?;
    Ok(())
}

/// Adds count increments (`N_i`, `C[i][j]`) and popularity increments.
pub async fn add_counts(
    txn: &DatabaseTransaction,
    counts: &Counts,
    popularity: &FxHashMap<Item, f64>,
) -> anyhow::Result<()> {
    let mut items: Vec<Item> = counts.items.keys().chain(popularity.keys()).copied().collect();
    items.sort_unstable();
    items.dedup();
    if !items.is_empty() {
        let users: Vec<f64> = items
            .iter()
            .map(|i| counts.items.get(i).copied().unwrap_or(0.0))
            .collect();
        let pops: Vec<f64> = items
            .iter()
            .map(|i| popularity.get(i).copied().unwrap_or(0.0))
            .collect();
        let ids: Vec<i32> = items.iter().map(|&i| i as i32).collect();
        let sql = "INSERT INTO item_counts (item, users, popularity) SELECT * FROM UNNEST($1::int[], $2::float8[], $3::float8[]) \
                   ON CONFLICT (item) DO UPDATE SET users = item_counts.users + EXCLUDED.users, \
                   popularity = item_counts.popularity + EXCLUDED.popularity";
        txn.execute(statement(sql, vec![ids.into(), users.into(), pops.into()]))
            .await
            .context("Failed to add item counts")?;
    }
    let mut pairs: Vec<(u64, f64)> = counts.pairs.iter().map(|(&k, &w)| (k, w)).collect();
    pairs.sort_unstable_by_key(|(k, _)| *k);
    for chunk in pairs.chunks(20_000) {
        let (mut from, mut to, mut weight) = (
            Vec::with_capacity(chunk.len()),
            Vec::with_capacity(chunk.len()),
            Vec::with_capacity(chunk.len()),
        );
        for &(key, w) in chunk {
            let (f, t) = pair_of(key);
            from.push(f as i32);
            to.push(t as i32);
            weight.push(w);
        }
        let sql = "INSERT INTO co_counts (from_item, to_item, weight) SELECT * FROM UNNEST($1::int[], $2::int[], $3::float8[]) \
                   ON CONFLICT (from_item, to_item) DO UPDATE SET weight = co_counts.weight + EXCLUDED.weight";
        txn.execute(statement(sql, vec![from.into(), to.into(), weight.into()]))
            .await
            .context("Failed to add pair counts")?;
    }
    Ok(())
}

/// Counts rows `from → [(to, C)]` of these items, and `N` of every item involved (plus `extra`).
pub async fn rows(
    db: &impl ConnectionTrait,
    items: &[Item],
    extra: &[Item],
) -> anyhow::Result<(FxHashMap<Item, Vec<(Item, f64)>>, FxHashMap<Item, f64>)> {
    let ids: Vec<i32> = items.iter().map(|&i| i as i32).collect();
    let sql = "SELECT from_item, to_item, weight FROM co_counts WHERE from_item = ANY($1)";
    let mut rows: FxHashMap<Item, Vec<(Item, f64)>> = FxHashMap::default();
    let mut involved: Vec<i32> = ids
        .iter()
        .copied()
        .chain(extra.iter().map(|&i| i as i32))
        .collect();
    for row in db
        .query_all(statement(sql, vec![ids.into()]))
        .await
        .context("Failed to load pair counts")?
    {
        let (from, to, weight): (i32, i32, f64) = (
            row.try_get("", "from_item")?,
            row.try_get("", "to_item")?,
            row.try_get("", "weight")?,
        );
        rows.entry(from as Item).or_default().push((to as Item, weight));
        involved.push(to);
    }
    involved.sort_unstable();
    involved.dedup();
    let sql = "SELECT item, users FROM item_counts WHERE item = ANY($1)";
    let mut counts = FxHashMap::default();
    for row in db
        .query_all(statement(sql, vec![involved.into()]))
        .await
        .context("Failed to load item counts")?
    {
        let (item, users): (i32, f64) = (row.try_get("", "item")?, row.try_get("", "users")?);
        counts.insert(item as Item, users);
    }
    Ok((rows, counts))
}

/// The most popular items (by decayed popularity), best first.
pub async fn trending(db: &impl ConnectionTrait, limit: u64) -> anyhow::Result<Vec<(Item, f64)>> {
    let sql = "SELECT ic.item, ic.popularity FROM item_counts ic JOIN product_items pi ON pi.item = ic.item \
               JOIN products p ON p.product_id = pi.product_id \
               WHERE p.active AND NOT p.deleted ORDER BY ic.popularity DESC, ic.item LIMIT $1";
    let rows = db
        .query_all(statement(sql, vec![(limit as i64).into()]))
        .await
        .context("Failed to load trending items")?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<i32>("", "item")? as Item,
                r.try_get("", "popularity")?,
            ))
        })
        .collect()
}

/// The most popular recommendable items of each category, best first (products without any
/// interaction yet come last, so new products still reach lists).
pub async fn popular_in(
    db: &impl ConnectionTrait,
    categories: &[String],
    per_category: u64,
) -> anyhow::Result<HashMap<String, Vec<(Item, f64)>>> {
    if categories.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = "SELECT category, item, popularity FROM ( \
                 SELECT p.category, pi.item, COALESCE(ic.popularity, 0) AS popularity, \
                   ROW_NUMBER() OVER (PARTITION BY p.category ORDER BY COALESCE(ic.popularity, 0) DESC, pi.item) AS rank \
                 FROM products p JOIN product_items pi USING (product_id) LEFT JOIN item_counts ic ON ic.item = pi.item \
                 WHERE p.active AND NOT p.deleted AND p.category = ANY($1)) ranked \
               WHERE rank <= $2 ORDER BY category, rank";
    let rows = db
        .query_all(statement(
            sql,
            vec![categories.to_vec().into(), (per_category as i64).into()],
        ))
        .await
        .context("Failed to load popular items per category")?;
    let mut out: HashMap<String, Vec<(Item, f64)>> = HashMap::new();
    for row in rows {
        let item: i32 = row.try_get("", "item")?;
        out.entry(row.try_get("", "category")?)
            .or_default()
            .push((item as Item, row.try_get("", "popularity")?));
    }
    Ok(out)
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
