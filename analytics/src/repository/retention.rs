//! Deleting what no answer reaches any more (hourly maintenance).
use anyhow::Context;
use sea_orm::ConnectionTrait;

use super::statement;

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
