//! The `products` table, with indexes for the list filters.
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
                CREATE TABLE products (
                    id             UUID PRIMARY KEY,
                    name           TEXT        NOT NULL,
                    description    TEXT        NOT NULL DEFAULT '',
                    category       TEXT        NOT NULL,
                    tags           TEXT[]      NOT NULL DEFAULT '{}',
                    -- Unconstrained NUMERIC keeps the scale given ("19.90" stays "19.90").
                    price_amount   NUMERIC     NOT NULL CHECK (price_amount >= 0),
                    price_currency TEXT        NOT NULL,
                    stock          INTEGER     NOT NULL DEFAULT 0 CHECK (stock >= 0),
                    active         BOOLEAN     NOT NULL DEFAULT TRUE,
                    attributes     JSONB       NOT NULL DEFAULT '{}',
                    version        BIGINT      NOT NULL DEFAULT 1,
                    created_at     TIMESTAMPTZ NOT NULL,
                    updated_at     TIMESTAMPTZ NOT NULL
                );
                CREATE INDEX products_category ON products (category, id);
                CREATE INDEX products_tags ON products USING GIN (tags);
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE products")
            .await?;
        Ok(())
    }
}
