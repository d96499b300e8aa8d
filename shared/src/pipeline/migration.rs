//! The tables of `shared::pipeline`; services that flush batches list it in their `Migrator`.
use sea_orm_migration::prelude::*;

/// Creates `partition_offsets` and `processed_events`.
pub struct CreatePipelineTables;

impl MigrationName for CreatePipelineTables {
    fn name(&self) -> &str {
        "m20261128_000000_create_pipeline_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePipelineTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
                -- The next offset of each partition not yet reflected in the service's state.
                CREATE TABLE partition_offsets (
                    topic       TEXT    NOT NULL,
                    partition   INTEGER NOT NULL,
                    next_offset BIGINT  NOT NULL,
                    PRIMARY KEY (topic, partition)
                );
                -- Event ids already applied (duplicates with new offsets change nothing).
                CREATE TABLE processed_events (
                    event_id     UUID PRIMARY KEY,
                    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
                );
                CREATE INDEX processed_events_age ON processed_events (processed_at);
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE processed_events, partition_offsets")
            .await?;
        Ok(())
    }
}
