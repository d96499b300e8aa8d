//! The `users` table.
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
                CREATE TABLE users (
                    id            UUID PRIMARY KEY,
                    email         TEXT        NOT NULL UNIQUE,
                    password_hash TEXT        NOT NULL,
                    display_name  TEXT        NOT NULL,
                    age           SMALLINT,
                    country       TEXT,
                    interests     TEXT[]      NOT NULL DEFAULT '{}',
                    role          TEXT        NOT NULL CHECK (role IN ('user', 'admin')),
                    created_at    TIMESTAMPTZ NOT NULL,
                    updated_at    TIMESTAMPTZ NOT NULL
                );
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE users")
            .await?;
        Ok(())
    }
}
