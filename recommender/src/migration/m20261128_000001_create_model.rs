//! The recommender's state: catalogue and profiles (from events), the model's counts and user
//! sequences, the partition offsets they cover, processed event ids, and the lists.
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
                -- Dense item numbers for product ids (shared by every instance).
                CREATE TABLE product_items (
                    product_id UUID PRIMARY KEY,
                    item       SERIAL UNIQUE
                );
                -- The catalogue as product_updates describe it (version guards reordering).
                CREATE TABLE products (
                    product_id UUID PRIMARY KEY,
                    category   TEXT    NOT NULL,
                    active     BOOLEAN NOT NULL,
                    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
                    version    BIGINT  NOT NULL
                );
                -- Interests from user_updates (cold start); deleted users are removed.
                CREATE TABLE user_profiles (
                    user_id    UUID PRIMARY KEY,
                    interests  TEXT[]      NOT NULL,
                    updated_at TIMESTAMPTZ NOT NULL
                );
                -- N_i, and time-decayed popularity as Σ w · 2^((t - epoch) / half-life) (since folded into
                -- the replicated state, where popularity is kept as its logarithm).
                CREATE TABLE item_counts (
                    item       INTEGER PRIMARY KEY,
                    users      DOUBLE PRECISION NOT NULL DEFAULT 0,
                    popularity DOUBLE PRECISION NOT NULL DEFAULT 0
                );
                -- C[from][to].
                CREATE TABLE co_counts (
                    from_item INTEGER NOT NULL,
                    to_item   INTEGER NOT NULL,
                    weight    DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (from_item, to_item)
                );
                -- Each user's sequence (positions, recent items, exclusions), as of the offsets below.
                CREATE TABLE user_sequences (
                    user_id UUID PRIMARY KEY,
                    state   JSONB NOT NULL
                );
                -- The latest list of each user; item_ids for finding lists that hold a product
                -- (rare: a product deleted or deactivated). No GIN index on purpose: it made every
                -- flush's list upsert ~5x slower, and reads filter such products anyway.
                CREATE TABLE recommendations (
                    user_id      UUID PRIMARY KEY,
                    items        JSONB       NOT NULL,
                    item_ids     UUID[]      NOT NULL,
                    generated_at TIMESTAMPTZ NOT NULL
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
                "DROP TABLE recommendations, user_sequences, \
                 co_counts, item_counts, user_profiles, products, product_items",
            )
            .await?;
        Ok(())
    }
}
