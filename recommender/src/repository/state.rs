//! The model's durable state.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use rustc_hash::FxHashMap;
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::statement;
use crate::model::score::{pair_of, Counts};
use crate::model::sequence::UserSequence;
use crate::model::Item;

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

/// Pair-count rows kept in process for a short time. Popular items are in the neighbour sets of
/// most flushes, and reading their rows from Postgres for every flush was most of a flush's time
/// under load (hundreds of thousands of rows each). A list may then miss the last `ttl` of
/// *other* users' co-interactions; a flush always adds its own increments, and item counts `N`
/// are read fresh every time. A `ttl` of zero reads every row from Postgres.
#[derive(Clone)]
pub struct RowCache {
    rows: Arc<Cache<Item, Arc<CachedRow>, RowWeight>>,
    ttl: Duration,
}

/// A row as read at `loaded`.
struct CachedRow {
    loaded: Instant,
    pairs: Vec<(Item, f64)>,
}

/// Rows weigh their number of pairs, so the capacity bounds memory (~16 bytes a pair).
#[derive(Clone)]
struct RowWeight;

impl Weighter<Item, Arc<CachedRow>> for RowWeight {
    fn weight(&self, _: &Item, row: &Arc<CachedRow>) -> u64 {
        row.pairs.len() as u64 + 1
    }
}

impl RowCache {
    /// Keeps rows `ttl`, at most `capacity_pairs` pairs in all.
    pub fn new(ttl: Duration, capacity_pairs: u64) -> Self {
        let capacity = capacity_pairs.max(1);
        Self {
            rows: Arc::new(Cache::with_weighter(
                (capacity / 1000).clamp(16, 100_000) as usize,
                capacity,
                RowWeight,
            )),
            ttl,
        }
    }

    /// Counts rows `from → [(to, C)]` of these items (from this cache when younger than `ttl`),
    /// and `N` of every item involved (plus `extra`), always from `db`.
    pub async fn rows(
        &self,
        db: &impl ConnectionTrait,
        items: &[Item],
        extra: &[Item],
    ) -> anyhow::Result<(FxHashMap<Item, Vec<(Item, f64)>>, FxHashMap<Item, f64>)> {
        let mut rows: FxHashMap<Item, Vec<(Item, f64)>> = FxHashMap::default();
        let mut missing = Vec::new();
        for &item in items {
            match self.rows.get(&item).filter(|r| r.loaded.elapsed() < self.ttl) {
                Some(row) if row.pairs.is_empty() => {}
                Some(row) => {
                    rows.insert(item, row.pairs.clone());
                }
                None => missing.push(item),
            }
        }
        let loaded_at = Instant::now();
        let mut loaded = load_rows(db, &missing).await?;
        for item in missing {
            let pairs = loaded.remove(&item).unwrap_or_default();
            if !self.ttl.is_zero() {
                let row = CachedRow {
                    loaded: loaded_at,
                    pairs: pairs.clone(),
                };
                self.rows.insert(item, Arc::new(row));
            }
            if !pairs.is_empty() {
                rows.insert(item, pairs);
            }
        }
        let mut involved: Vec<Item> = items
            .iter()
            .chain(extra)
            .copied()
            .chain(rows.values().flatten().map(|&(to, _)| to))
            .collect();
        involved.sort_unstable();
        involved.dedup();
        Ok((rows, item_counts(db, &involved).await?))
    }
}

/// The stored rows of these items (items without pairs are absent).
async fn load_rows(
    db: &impl ConnectionTrait,
    items: &[Item],
) -> anyhow::Result<FxHashMap<Item, Vec<(Item, f64)>>> {
    let mut rows: FxHashMap<Item, Vec<(Item, f64)>> = FxHashMap::default();
    if items.is_empty() {
        return Ok(rows);
    }
    let ids: Vec<i32> = items.iter().map(|&i| i as i32).collect();
    let sql = "SELECT from_item, to_item, weight FROM co_counts WHERE from_item = ANY($1)";
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
    }
    Ok(rows)
}

/// `N` of these items (absent: 0).
async fn item_counts(db: &impl ConnectionTrait, items: &[Item]) -> anyhow::Result<FxHashMap<Item, f64>> {
    let ids: Vec<i32> = items.iter().map(|&i| i as i32).collect();
    let sql = "SELECT item, users FROM item_counts WHERE item = ANY($1)";
    let mut counts = FxHashMap::default();
    for row in db
        .query_all(statement(sql, vec![ids.into()]))
        .await
        .context("Failed to load item counts")?
    {
        let (item, users): (i32, f64) = (row.try_get("", "item")?, row.try_get("", "users")?);
        counts.insert(item as Item, users);
    }
    Ok(counts)
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
