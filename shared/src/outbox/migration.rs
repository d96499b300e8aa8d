//! The migration that creates the `outbox` table; services list it in their `Migrator`.
use sea_orm_migration::prelude::*;

/// Creates `outbox` with a partial index over pending rows (the relay's only query).
pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m20261128_000001_create_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
                CREATE TABLE outbox (
                    id          BIGSERIAL PRIMARY KEY,
                    event_id    UUID        NOT NULL UNIQUE,
                    topic       TEXT        NOT NULL,
                    event_key   TEXT        NOT NULL,
                    event_type  TEXT        NOT NULL,
                    payload     JSONB       NOT NULL,
                    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
                    sent_at     TIMESTAMPTZ
                );
                CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
                CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE outbox")
            .await?;
        Ok(())
    }
}
