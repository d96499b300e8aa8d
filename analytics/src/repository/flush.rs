//! The writes of a flush, inside its transaction: raw events, catalogue facts and the
//! statistics' increments.
use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use super::statement;
use crate::increments::{Increments, Recorded};

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
