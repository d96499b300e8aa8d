//! Raw events (for analysts' own SQL) and the statistics derived from them.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
                -- Every event of every topic, append-only (pruned after analytics.raw_retention_days).
                CREATE TABLE raw_events (
                    event_id    UUID PRIMARY KEY,
                    topic       TEXT        NOT NULL,
                    event_type  TEXT        NOT NULL,
                    occurred_at TIMESTAMPTZ NOT NULL,
                    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    user_id     UUID,
                    product_id  UUID,
                    payload     JSONB       NOT NULL
                );
                CREATE INDEX raw_events_time ON raw_events (occurred_at);
                CREATE INDEX raw_events_product ON raw_events (product_id, occurred_at) WHERE product_id IS NOT NULL;
                CREATE INDEX raw_events_user ON raw_events (user_id, occurred_at) WHERE user_id IS NOT NULL;
                -- The catalogue, from product_updates (version-guarded). Written by whichever
                -- instance owns the event's partition; all instances read it from this database.
                CREATE TABLE products (
                    product_id UUID PRIMARY KEY,
                    category   TEXT    NOT NULL,
                    active     BOOLEAN NOT NULL,
                    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
                    version    BIGINT  NOT NULL
                );
                -- Per product and UTC bucket (bucket = 'minute' | 'hour' | 'day').
                CREATE TABLE product_stats (
                    product_id   UUID        NOT NULL,
                    bucket       TEXT        NOT NULL,
                    bucket_start TIMESTAMPTZ NOT NULL,
                    views        BIGINT      NOT NULL DEFAULT 0,
                    clicks       BIGINT      NOT NULL DEFAULT 0,
                    add_to_cart  BIGINT      NOT NULL DEFAULT 0,
                    purchases    BIGINT      NOT NULL DEFAULT 0,
                    ratings      BIGINT      NOT NULL DEFAULT 0,
                    rating_sum   DOUBLE PRECISION NOT NULL DEFAULT 0,
                    unique_users BIGINT      NOT NULL DEFAULT 0,
                    PRIMARY KEY (product_id, bucket, bucket_start)
                );
                CREATE INDEX product_stats_window ON product_stats (bucket, bucket_start);
                -- Who acted on a product in a bucket: exact unique users.
                CREATE TABLE product_bucket_users (
                    product_id   UUID        NOT NULL,
                    bucket       TEXT        NOT NULL,
                    bucket_start TIMESTAMPTZ NOT NULL,
                    user_id      UUID        NOT NULL,
                    PRIMARY KEY (product_id, bucket, bucket_start, user_id)
                );
                CREATE TABLE user_stats (
                    user_id     UUID PRIMARY KEY,
                    views       BIGINT      NOT NULL DEFAULT 0,
                    clicks      BIGINT      NOT NULL DEFAULT 0,
                    add_to_cart BIGINT      NOT NULL DEFAULT 0,
                    purchases   BIGINT      NOT NULL DEFAULT 0,
                    ratings     BIGINT      NOT NULL DEFAULT 0,
                    first_at    TIMESTAMPTZ NOT NULL,
                    last_at     TIMESTAMPTZ NOT NULL,
                    active_days BIGINT      NOT NULL DEFAULT 0
                );
                -- Days (UTC) on which a user acted: active days, DAU and WAU.
                CREATE TABLE user_active_days (
                    day     DATE NOT NULL,
                    user_id UUID NOT NULL,
                    PRIMARY KEY (day, user_id)
                );
                -- Counters per UTC bucket: actions by type, registrations, catalogue changes.
                CREATE TABLE global_stats (
                    bucket       TEXT        NOT NULL,
                    bucket_start TIMESTAMPTZ NOT NULL,
                    metric       TEXT        NOT NULL,
                    value        BIGINT      NOT NULL,
                    PRIMARY KEY (bucket, bucket_start, metric)
                );
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE global_stats, user_active_days, user_stats, product_bucket_users, product_stats, products, raw_events",
            )
            .await?;
        Ok(())
    }
}
