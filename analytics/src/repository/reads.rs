//! The API's reads, decoded into the domain's types.
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, QueryResult};
use uuid::Uuid;

use super::statement;
use crate::buckets::Bucket;
use crate::domain::stats::{ratio, Metric, ProductBucket, Ranked, RecentAction, UserActivity};

/// A product's buckets of one width starting at or after `from`, oldest first.
pub async fn product_series(
    db: &impl ConnectionTrait,
    product: Uuid,
    bucket: Bucket,
    from: DateTime<Utc>,
) -> anyhow::Result<Vec<ProductBucket>> {
    let sql = "SELECT bucket_start, views, clicks, add_to_cart, purchases, ratings, rating_sum, unique_users \
               FROM product_stats WHERE product_id = $1 AND bucket = $2 AND bucket_start >= $3 ORDER BY bucket_start";
    let rows = db
        .query_all(statement(
            sql,
            vec![product.into(), bucket.as_str().into(), from.into()],
        ))
        .await
        .context("Failed to read product statistics")?;
    rows.iter()
        .map(product_bucket)
        .collect::<Result<_, _>>()
        .context("Failed to decode product statistics")
}

fn product_bucket(row: &QueryResult) -> Result<ProductBucket, sea_orm::DbErr> {
    let (views, purchases, ratings): (i64, i64, i64) = (
        row.try_get("", "views")?,
        row.try_get("", "purchases")?,
        row.try_get("", "ratings")?,
    );
    let rating_sum: f64 = row.try_get("", "rating_sum")?;
    Ok(ProductBucket {
        bucket_start: row.try_get("", "bucket_start")?,
        views,
        clicks: row.try_get("", "clicks")?,
        add_to_cart: row.try_get("", "add_to_cart")?,
        purchases,
        ratings,
        rating_average: (ratings > 0).then(|| rating_sum / ratings as f64),
        unique_users: row.try_get("", "unique_users")?,
        conversion_rate: ratio(purchases, views as f64),
    })
}

/// A user's statistics.
pub async fn user(db: &impl ConnectionTrait, user: Uuid) -> anyhow::Result<Option<UserActivity>> {
    let sql = "SELECT views, clicks, add_to_cart, purchases, ratings, first_at, last_at, active_days FROM user_stats WHERE user_id = $1";
    let row = db
        .query_one(statement(sql, vec![user.into()]))
        .await
        .context("Failed to read user statistics")?;
    decode_activity(user, row)
}

fn decode_activity(user_id: Uuid, row: Option<QueryResult>) -> anyhow::Result<Option<UserActivity>> {
    let Some(row) = row else { return Ok(None) };
    let activity = UserActivity {
        user_id,
        views: row.try_get("", "views")?,
        clicks: row.try_get("", "clicks")?,
        add_to_cart: row.try_get("", "add_to_cart")?,
        purchases: row.try_get("", "purchases")?,
        ratings: row.try_get("", "ratings")?,
        first_activity: row.try_get("", "first_at")?,
        last_activity: row.try_get("", "last_at")?,
        active_days: row.try_get("", "active_days")?,
    };
    Ok(Some(activity))
}

/// A user's latest `limit` actions, newest first, from the raw events (kept
/// `analytics.raw_retention_days`). A rating that is not a number reads as none.
pub async fn recent_actions(
    db: &impl ConnectionTrait,
    user: Uuid,
    limit: u64,
) -> anyhow::Result<Vec<RecentAction>> {
    let sql = "SELECT event_id, occurred_at, product_id, payload->>'action' AS action, \
               CASE WHEN jsonb_typeof(payload->'value') = 'number' THEN (payload->>'value')::float8 END AS value \
               FROM raw_events WHERE user_id = $1 AND topic = $2 AND product_id IS NOT NULL \
               ORDER BY occurred_at DESC, event_id LIMIT $3";
    let values = vec![
        user.into(),
        shared::events::topics::USER_ACTIONS.into(),
        (limit as i64).into(),
    ];
    let rows = db
        .query_all(statement(sql, values))
        .await
        .context("Failed to read a user's recent actions")?;
    rows.iter()
        .map(|row| {
            Ok(RecentAction {
                event_id: row.try_get("", "event_id")?,
                action: row.try_get::<Option<String>>("", "action")?.unwrap_or_default(),
                product_id: row.try_get("", "product_id")?,
                value: row.try_get("", "value")?,
                occurred_at: row.try_get("", "occurred_at")?,
            })
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .context("Failed to decode a user's recent actions")
}

/// The SQL expression of a metric over summed columns.
fn expression(metric: Metric) -> &'static str {
    match metric {
        Metric::Views => "SUM(s.views)::float8",
        Metric::Clicks => "SUM(s.clicks)::float8",
        Metric::AddToCart => "SUM(s.add_to_cart)::float8",
        Metric::Purchases => "SUM(s.purchases)::float8",
        Metric::Ratings => "SUM(s.ratings)::float8",
        Metric::Conversion => "SUM(s.purchases)::float8 / NULLIF(SUM(s.views), 0)",
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
) -> anyhow::Result<Vec<Ranked>> {
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
        value = expression(metric)
    );
    let values = vec![
        bucket.as_str().into(),
        from.into(),
        category.map(str::to_owned).into(),
        (limit as i64).into(),
    ];
    let rows = db
        .query_all(statement(&sql, values))
        .await
        .context("Failed to rank")?;
    rows.iter()
        .map(|row| {
            let count = |column: &str| row.try_get::<i64>("", column);
            Ok(Ranked {
                key: row.try_get("", "key")?,
                value: row.try_get("", "value")?,
                views: count("views")?,
                clicks: count("clicks")?,
                add_to_cart: count("add_to_cart")?,
                purchases: count("purchases")?,
                ratings: count("ratings")?,
            })
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .context("Failed to decode a ranking")
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

/// A user's actions by type since `from`, counted from the raw events (for windowed activity).
pub async fn user_window(
    db: &impl ConnectionTrait,
    user: Uuid,
    from: DateTime<Utc>,
) -> anyhow::Result<Option<UserActivity>> {
    let sql = "SELECT COUNT(*) FILTER (WHERE payload->>'action' = 'view')::int8 AS views, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'click')::int8 AS clicks, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'add_to_cart')::int8 AS add_to_cart, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'purchase')::int8 AS purchases, \
                      COUNT(*) FILTER (WHERE payload->>'action' = 'rate')::int8 AS ratings, \
                      MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at, \
                      COUNT(DISTINCT (occurred_at AT TIME ZONE 'UTC')::date)::int8 AS active_days \
               FROM raw_events WHERE user_id = $1 AND event_type = 'user_action' AND occurred_at >= $2 \
               HAVING COUNT(*) > 0";
    let row = db
        .query_one(statement(sql, vec![user.into(), from.into()]))
        .await
        .context("Failed to read windowed user activity")?;
    decode_activity(user, row)
}
