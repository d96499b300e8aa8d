//! Stored recommendation lists.
use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::statement;
use crate::domain::list::RecommendationList;

/// Who may overwrite a stored list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// The partition's flush: it owns the users' sequences, its lists are the newest.
    Always,
    /// A recomputation from a snapshot (profile or catalogue change): only over lists built from
    /// the same or an older sequence, so it never undoes a flush that committed meanwhile.
    IfNewer,
}

/// Writes these users' lists; returns the users whose list was written.
pub async fn save(
    txn: &DatabaseTransaction,
    lists: &[(Uuid, &RecommendationList)],
    write: Write,
) -> anyhow::Result<Vec<Uuid>> {
    let mut sorted: Vec<&(Uuid, &RecommendationList)> = lists.iter().collect();
    sorted.sort_by_key(|(id, _)| *id);
    let guard = match write {
        Write::Always => "",
        Write::IfNewer => "WHERE recommendations.based_on <= EXCLUDED.based_on",
    };
    let sql = format!(
        "INSERT INTO recommendations (user_id, items, item_ids, generated_at, based_on) \
         SELECT u, i, ids::uuid[], g, b FROM UNNEST($1::uuid[], $2::jsonb[], $3::text[], $4::timestamptz[], $5::int8[]) AS t(u, i, ids, g, b) \
         ON CONFLICT (user_id) DO UPDATE SET items = EXCLUDED.items, item_ids = EXCLUDED.item_ids, \
         generated_at = EXCLUDED.generated_at, based_on = EXCLUDED.based_on {guard} RETURNING user_id"
    );
    let mut written = Vec::new();
    for chunk in sorted.chunks(1000) {
        let users: Vec<Uuid> = chunk.iter().map(|(id, _)| *id).collect();
        let items: Vec<serde_json::Value> = chunk
            .iter()
            .map(|(_, l)| serde_json::to_value(&l.items))
            .collect::<Result<_, _>>()?;
        let ids: Vec<String> = chunk
            .iter()
            .map(|(_, l)| {
                format!(
                    "{{{}}}",
                    l.items
                        .iter()
                        .map(|i| i.product_id.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            })
            .collect();
        let generated: Vec<DateTime<Utc>> = chunk.iter().map(|(_, l)| l.generated_at).collect();
        let based_on: Vec<i64> = chunk.iter().map(|(_, l)| l.based_on).collect();
        let values = vec![
            users.into(),
            items.into(),
            ids.into(),
            generated.into(),
            based_on.into(),
        ];
        for row in txn
            .query_all(statement(&sql, values))
            .await
            .context("Failed to save lists")?
        {
            written.push(row.try_get("", "user_id")?);
        }
    }
    Ok(written)
}

/// A user's stored list.
pub async fn load(db: &impl ConnectionTrait, user: Uuid) -> anyhow::Result<Option<RecommendationList>> {
    let sql = "SELECT items, generated_at, based_on FROM recommendations WHERE user_id = $1";
    let Some(row) = db
        .query_one(statement(sql, vec![user.into()]))
        .await
        .context("Failed to load the list")?
    else {
        return Ok(None);
    };
    let items: serde_json::Value = row.try_get("", "items")?;
    Ok(Some(RecommendationList {
        items: serde_json::from_value(items).context("A stored list does not decode")?,
        generated_at: row.try_get("", "generated_at")?,
        based_on: row.try_get("", "based_on")?,
    }))
}

/// Up to `limit` users whose list is older than `seconds`, oldest first.
pub async fn stale(db: &impl ConnectionTrait, seconds: u64, limit: u64) -> anyhow::Result<Vec<Uuid>> {
    let sql = "SELECT user_id FROM recommendations \
               WHERE generated_at < now() - make_interval(secs => $1) ORDER BY generated_at LIMIT $2";
    let rows = db
        .query_all(statement(
            sql,
            vec![(seconds as f64).into(), (limit as i64).into()],
        ))
        .await
        .context("Failed to find stale lists")?;
    rows.iter()
        .map(|r| r.try_get("", "user_id").context("user_id"))
        .collect()
}

/// Users whose stored list holds this product (to recompute after it became unrecommendable).
pub async fn users_listing(db: &impl ConnectionTrait, product: Uuid) -> anyhow::Result<Vec<Uuid>> {
    let sql = "SELECT user_id FROM recommendations WHERE item_ids @> ARRAY[$1::uuid]";
    let rows = db
        .query_all(statement(sql, vec![product.into()]))
        .await
        .context("Failed to find lists")?;
    rows.iter()
        .map(|r| r.try_get("", "user_id").map_err(Into::into))
        .collect()
}
