//! Writes of a flush (inside its transaction) and reads of the API.
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use crate::buckets::Bucket;
use crate::increments::{Increments, Recorded};

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Appends raw events (a replayed id is kept once).
pub async fn insert_raw(txn: &DatabaseTransaction, events: &[Recorded]) -> anyhow::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let topics: Vec<String> = events.iter().map(|e| e.topic.clone()).collect();
    let types: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    // Arrays of optional UUIDs cannot be bound: absent ids travel as '' and become NULL.
    let text = |id: Option<Uuid>| id.map(|u| u.to_string()).unwrap_or_default();
    let users: Vec<String> = events.iter().map(|e| text(e.user_id)).collect();
    let products: Vec<String> = events.iter().map(|e| text(e.product_id)).collect();
    let payloads: Vec<serde_json::Value> = events.iter().map(|e| e.payload.clone()).collect();
    let sql = "INSERT INTO raw_events (event_id, topic, event_type, occurred_at, user_id, product_id, payload) \
               SELECT e, t, ty, o, NULLIF(u, '')::uuid, NULLIF(p, '')::uuid, pl \
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::jsonb[]) \
                 AS x(e, t, ty, o, u, p, pl) \
               ON CONFLICT (event_id) DO NOTHING";
    let values = vec![
        ids.into(),
        topics.into(),
        types.into(),
        times.into(),
        users.into(),
        products.into(),
        payloads.into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to store raw events")?;
    Ok(())
}

/// Applies the catalogue changes among `events` (older versions than the stored one are ignored).
pub async fn apply_catalogue(txn: &DatabaseTransaction, events: &[Recorded]) -> anyhow::Result<()> {
    use shared::events::product::{ProductDeleted, ProductSnapshot};
    let mut latest: BTreeMap<Uuid, (String, bool, bool, i64)> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| e.topic == shared::events::topics::PRODUCT_UPDATES)
    {
        let state = match event.event_type.as_str() {
            "product_created" | "product_updated" => {
                serde_json::from_value::<ProductSnapshot>(event.payload.clone())
                    .ok()
                    .map(|p| (p.id, (p.category, p.active, false, p.version)))
            }
            "product_deleted" => serde_json::from_value::<ProductDeleted>(event.payload.clone())
                .ok()
                .map(|d| (d.id, (String::new(), false, true, d.version))),
            _ => None,
        };
        if let Some((id, state)) = state {
            if latest.get(&id).is_none_or(|known| known.3 < state.3) {
                latest.insert(id, state);
            }
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let sql = "INSERT INTO products (product_id, category, active, deleted, version) \
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::bool[], $4::bool[], $5::int8[]) \
               ON CONFLICT (product_id) DO UPDATE SET \
                 category = CASE WHEN EXCLUDED.deleted THEN products.category ELSE EXCLUDED.category END, \
                 active = EXCLUDED.active, deleted = EXCLUDED.deleted, version = EXCLUDED.version \
               WHERE products.version < EXCLUDED.version";
    let values = vec![
        latest.keys().copied().collect::<Vec<Uuid>>().into(),
        latest
            .values()
            .map(|s| s.0.clone())
            .collect::<Vec<String>>()
            .into(),
        latest.values().map(|s| s.1).collect::<Vec<bool>>().into(),
        latest.values().map(|s| s.2).collect::<Vec<bool>>().into(),
        latest.values().map(|s| s.3).collect::<Vec<i64>>().into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to apply catalogue changes")?;
    Ok(())
}

/// Adds a flush's increments to every statistic.
pub async fn add(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    add_products(txn, inc).await?;
    add_unique_users(txn, inc).await?;
    add_users(txn, inc).await?;
    add_active_days(txn, inc).await?;
    add_global(txn, inc).await
}

async fn add_products(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    if inc.products.is_empty() {
        return Ok(());
    }
    let keys: Vec<_> = inc.products.keys().collect();
    let counts: Vec<_> = inc.products.values().collect();
    let sql = "INSERT INTO product_stats (product_id, bucket, bucket_start, views, clicks, add_to_cart, purchases, ratings, rating_sum) \
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::float8[]) \
               ON CONFLICT (product_id, bucket, bucket_start) DO UPDATE SET \
                 views = product_stats.views + EXCLUDED.views, clicks = product_stats.clicks + EXCLUDED.clicks, \
                 add_to_cart = product_stats.add_to_cart + EXCLUDED.add_to_cart, purchases = product_stats.purchases + EXCLUDED.purchases, \
                 ratings = product_stats.ratings + EXCLUDED.ratings, rating_sum = product_stats.rating_sum + EXCLUDED.rating_sum";
    let values = vec![
        keys.iter().map(|k| k.0).collect::<Vec<Uuid>>().into(),
        keys.iter()
            .map(|k| k.1.as_str().to_owned())
            .collect::<Vec<String>>()
            .into(),
        keys.iter().map(|k| k.2).collect::<Vec<DateTime<Utc>>>().into(),
        counts.iter().map(|c| c.views).collect::<Vec<i64>>().into(),
        counts.iter().map(|c| c.clicks).collect::<Vec<i64>>().into(),
        counts.iter().map(|c| c.add_to_cart).collect::<Vec<i64>>().into(),
        counts.iter().map(|c| c.purchases).collect::<Vec<i64>>().into(),
        counts.iter().map(|c| c.ratings).collect::<Vec<i64>>().into(),
        counts.iter().map(|c| c.rating_sum).collect::<Vec<f64>>().into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to add product statistics")?;
    Ok(())
}

/// Inserts (product, bucket, user) triples; each new one adds a unique user to its bucket.
async fn add_unique_users(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    if inc.product_users.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = inc.product_users.iter().collect();
    let sql = "INSERT INTO product_bucket_users (product_id, bucket, bucket_start, user_id) \
               SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[]) \
               ON CONFLICT DO NOTHING RETURNING product_id, bucket, bucket_start";
    let values = vec![
        rows.iter().map(|r| r.0).collect::<Vec<Uuid>>().into(),
        rows.iter()
            .map(|r| r.1.as_str().to_owned())
            .collect::<Vec<String>>()
            .into(),
        rows.iter().map(|r| r.2).collect::<Vec<DateTime<Utc>>>().into(),
        rows.iter().map(|r| r.3).collect::<Vec<Uuid>>().into(),
    ];
    let inserted = txn
        .query_all(statement(sql, values))
        .await
        .context("Failed to record unique users")?;
    let mut new: BTreeMap<(Uuid, String, DateTime<Utc>), i64> = BTreeMap::new();
    for row in inserted {
        let key = (
            row.try_get("", "product_id")?,
            row.try_get("", "bucket")?,
            row.try_get("", "bucket_start")?,
        );
        *new.entry(key).or_default() += 1;
    }
    if new.is_empty() {
        return Ok(());
    }
    let sql = "UPDATE product_stats p SET unique_users = p.unique_users + u.n \
               FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[], $4::int8[]) AS u(product_id, bucket, bucket_start, n) \
               WHERE p.product_id = u.product_id AND p.bucket = u.bucket AND p.bucket_start = u.bucket_start";
    let values = vec![
        new.keys().map(|k| k.0).collect::<Vec<Uuid>>().into(),
        new.keys().map(|k| k.1.clone()).collect::<Vec<String>>().into(),
        new.keys().map(|k| k.2).collect::<Vec<DateTime<Utc>>>().into(),
        new.values().copied().collect::<Vec<i64>>().into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to count unique users")?;
    Ok(())
}

async fn add_users(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    if inc.users.is_empty() {
        return Ok(());
    }
    let users: Vec<_> = inc.users.iter().collect();
    let sql = "INSERT INTO user_stats (user_id, views, clicks, add_to_cart, purchases, ratings, first_at, last_at) \
               SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::timestamptz[], $8::timestamptz[]) \
               ON CONFLICT (user_id) DO UPDATE SET \
                 views = user_stats.views + EXCLUDED.views, clicks = user_stats.clicks + EXCLUDED.clicks, \
                 add_to_cart = user_stats.add_to_cart + EXCLUDED.add_to_cart, purchases = user_stats.purchases + EXCLUDED.purchases, \
                 ratings = user_stats.ratings + EXCLUDED.ratings, first_at = LEAST(user_stats.first_at, EXCLUDED.first_at), \
                 last_at = GREATEST(user_stats.last_at, EXCLUDED.last_at)";
    let values = vec![
        users.iter().map(|(u, _)| **u).collect::<Vec<Uuid>>().into(),
        users
            .iter()
            .map(|(_, i)| i.counts.views)
            .collect::<Vec<i64>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.counts.clicks)
            .collect::<Vec<i64>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.counts.add_to_cart)
            .collect::<Vec<i64>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.counts.purchases)
            .collect::<Vec<i64>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.counts.ratings)
            .collect::<Vec<i64>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.first_at)
            .collect::<Vec<DateTime<Utc>>>()
            .into(),
        users
            .iter()
            .map(|(_, i)| i.last_at)
            .collect::<Vec<DateTime<Utc>>>()
            .into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to add user statistics")?;
    Ok(())
}

/// Inserts (day, user) pairs; each new one adds an active day to the user.
async fn add_active_days(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    if inc.active_days.is_empty() {
        return Ok(());
    }
    let sql = "INSERT INTO user_active_days (day, user_id) SELECT * FROM UNNEST($1::date[], $2::uuid[]) \
               ON CONFLICT DO NOTHING RETURNING user_id";
    let values = vec![
        inc.active_days
            .iter()
            .map(|(d, _)| *d)
            .collect::<Vec<NaiveDate>>()
            .into(),
        inc.active_days
            .iter()
            .map(|(_, u)| *u)
            .collect::<Vec<Uuid>>()
            .into(),
    ];
    let inserted = txn
        .query_all(statement(sql, values))
        .await
        .context("Failed to record active days")?;
    let mut new: BTreeMap<Uuid, i64> = BTreeMap::new();
    for row in inserted {
        *new.entry(row.try_get("", "user_id")?).or_default() += 1;
    }
    if new.is_empty() {
        return Ok(());
    }
    let sql = "UPDATE user_stats s SET active_days = s.active_days + u.n FROM UNNEST($1::uuid[], $2::int8[]) AS u(user_id, n) \
               WHERE s.user_id = u.user_id";
    let values = vec![
        new.keys().copied().collect::<Vec<Uuid>>().into(),
        new.values().copied().collect::<Vec<i64>>().into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to count active days")?;
    Ok(())
}

async fn add_global(txn: &DatabaseTransaction, inc: &Increments) -> anyhow::Result<()> {
    if inc.global.is_empty() {
        return Ok(());
    }
    let sql = "INSERT INTO global_stats (bucket, bucket_start, metric, value) \
               SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::int8[]) \
               ON CONFLICT (bucket, bucket_start, metric) DO UPDATE SET value = global_stats.value + EXCLUDED.value";
    let values = vec![
        inc.global
            .keys()
            .map(|k| k.0.as_str().to_owned())
            .collect::<Vec<String>>()
            .into(),
        inc.global
            .keys()
            .map(|k| k.1)
            .collect::<Vec<DateTime<Utc>>>()
            .into(),
        inc.global
            .keys()
            .map(|k| k.2.clone())
            .collect::<Vec<String>>()
            .into(),
        inc.global.values().copied().collect::<Vec<i64>>().into(),
    ];
    txn.execute(statement(sql, values))
        .await
        .context("Failed to add global statistics")?;
    Ok(())
}

/// A product's buckets of one width starting at or after `from`, oldest first.
pub async fn product_series(
    db: &impl ConnectionTrait,
    product: Uuid,
    bucket: Bucket,
    from: DateTime<Utc>,
) -> anyhow::Result<Vec<QueryResult>> {
    let sql = "SELECT bucket_start, views, clicks, add_to_cart, purchases, ratings, rating_sum, unique_users \
               FROM product_stats WHERE product_id = $1 AND bucket = $2 AND bucket_start >= $3 ORDER BY bucket_start";
    db.query_all(statement(
        sql,
        vec![product.into(), bucket.as_str().into(), from.into()],
    ))
    .await
    .context("Failed to read product statistics")
}

/// A user's statistics.
pub async fn user(db: &impl ConnectionTrait, user: Uuid) -> anyhow::Result<Option<QueryResult>> {
    let sql = "SELECT views, clicks, add_to_cart, purchases, ratings, first_at, last_at, active_days FROM user_stats WHERE user_id = $1";
    db.query_one(statement(sql, vec![user.into()]))
        .await
        .context("Failed to read user statistics")
}

/// What rankings can order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Views,
    Clicks,
    AddToCart,
    Purchases,
    Ratings,
    /// purchases / views (products with views only).
    Conversion,
}

impl Metric {
    /// The SQL expression over summed columns.
    fn expression(self) -> &'static str {
        match self {
            Metric::Views => "SUM(s.views)::float8",
            Metric::Clicks => "SUM(s.clicks)::float8",
            Metric::AddToCart => "SUM(s.add_to_cart)::float8",
            Metric::Purchases => "SUM(s.purchases)::float8",
            Metric::Ratings => "SUM(s.ratings)::float8",
            Metric::Conversion => "SUM(s.purchases)::float8 / NULLIF(SUM(s.views), 0)",
        }
    }
}

/// Products (or categories) ranked by `metric` over buckets of `bucket` from `from`, with their
/// summed counters; `category` filters products; `by_category` ranks categories instead.
pub async fn top(
    db: &impl ConnectionTrait,
    metric: Metric,
    bucket: Bucket,
    from: DateTime<Utc>,
    category: Option<&str>,
    by_category: bool,
    limit: u64,
) -> anyhow::Result<Vec<QueryResult>> {
    let key = if by_category {
        "COALESCE(p.category, '(unknown)')"
    } else {
        "s.product_id::text"
    };
    let sql = format!(
        "SELECT {key} AS key, {value} AS value, SUM(s.views)::int8 AS views, SUM(s.clicks)::int8 AS clicks, \
           SUM(s.add_to_cart)::int8 AS add_to_cart, SUM(s.purchases)::int8 AS purchases, SUM(s.ratings)::int8 AS ratings \
         FROM product_stats s LEFT JOIN products p USING (product_id) \
         WHERE s.bucket = $1 AND s.bucket_start >= $2 AND ($3::text IS NULL OR p.category = $3) \
         GROUP BY 1 HAVING {value} IS NOT NULL ORDER BY 2 DESC, 1 LIMIT $4",
        value = metric.expression()
    );
    let values = vec![
        bucket.as_str().into(),
        from.into(),
        category.map(str::to_owned).into(),
        (limit as i64).into(),
    ];
    db.query_all(statement(&sql, values))
        .await
        .context("Failed to rank")
}

/// Global counters summed over buckets of `bucket` from `from`.
pub async fn totals(
    db: &impl ConnectionTrait,
    bucket: Bucket,
    from: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let sql = "SELECT metric, SUM(value)::int8 AS value FROM global_stats WHERE bucket = $1 AND bucket_start >= $2 GROUP BY metric";
    let rows = db
        .query_all(statement(sql, vec![bucket.as_str().into(), from.into()]))
        .await
        .context("Failed to sum totals")?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "metric")?, r.try_get("", "value")?)))
        .collect()
}

/// Distinct users active on the UTC days from `from_day` to today.
pub async fn active_users(db: &impl ConnectionTrait, from_day: NaiveDate) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(DISTINCT user_id)::int8 AS n FROM user_active_days WHERE day >= $1";
    let row = db
        .query_one(statement(sql, vec![from_day.into()]))
        .await
        .context("Failed to count active users")?;
    Ok(row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0))
}

/// Deletes raw events that occurred more than `days` ago; returns how many.
pub async fn prune_raw(db: &impl ConnectionTrait, days: u32) -> anyhow::Result<u64> {
    let sql = "DELETE FROM raw_events WHERE occurred_at < now() - make_interval(days => $1)";
    let result = db
        .execute(statement(sql, vec![(days as i32).into()]))
        .await
        .context("Failed to prune raw events")?;
    Ok(result.rows_affected())
}

/// The longest window the API answers (30 days) plus its bucket: statistics younger than this
/// are all reachable, so bucket retention never goes below it.
pub const MIN_BUCKET_RETENTION_DAYS: u32 = 31;

/// Deletes what no window reaches any more, older than `days` (at least
/// [`MIN_BUCKET_RETENTION_DAYS`]): minute and hour buckets of the statistics, and the per-user
/// rows behind every bucket's unique-user count (final by then: an event arriving later than
/// that may count its user a second time in its bucket). Day buckets of the statistics stay, for
/// long-term reports. Returns the rows deleted.
pub async fn prune_buckets(db: &impl ConnectionTrait, days: u32) -> anyhow::Result<u64> {
    let days = days.max(MIN_BUCKET_RETENTION_DAYS) as i32;
    let mut deleted = 0;
    for sql in [
        "DELETE FROM product_bucket_users WHERE bucket_start < now() - make_interval(days => $1)",
        "DELETE FROM product_stats WHERE bucket <> 'day' AND bucket_start < now() - make_interval(days => $1)",
        "DELETE FROM global_stats WHERE bucket <> 'day' AND bucket_start < now() - make_interval(days => $1)",
    ] {
        deleted += db
            .execute(statement(sql, vec![days.into()]))
            .await
            .context("Failed to prune old buckets")?
            .rows_affected();
    }
    Ok(deleted)
}

/// A user's actions by type since `from`, counted from the raw events (for windowed activity).
pub async fn user_window(
    db: &impl ConnectionTrait,
    user: Uuid,
    from: DateTime<Utc>,
) -> anyhow::Result<Option<QueryResult>> {
    let sql = "SELECT COUNT(*) FILTER (WHERE payload->>'action' = 'view')::int8 AS views, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'click')::int8 AS clicks, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'add_to_cart')::int8 AS add_to_cart, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'purchase')::int8 AS purchases, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'rate')::int8 AS ratings, \
                      MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at, \
                      COUNT(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date)::int8 AS active_days \
               FROM raw_events WHERE user_id = $1 AND event_type = 'user_action' AND occurred_at >= $2 \
               HAVING COUNT(*) > 0";
    db.query_one(statement(sql, vec![user.into(), from.into()]))
        .await
        .context("Failed to read windowed user activity")
}
