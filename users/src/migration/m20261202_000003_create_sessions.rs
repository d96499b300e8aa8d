//! Login sessions and their rotating refresh tokens (stored as SHA-256 hashes, never as given).
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
                CREATE TABLE sessions (
                    id          UUID PRIMARY KEY,
                    user_id     UUID        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    created_at  TIMESTAMPTZ NOT NULL,
                    -- when the session's last access token was issued (login or refresh)
                    issued_at   TIMESTAMPTZ NOT NULL,
                    expires_at  TIMESTAMPTZ NOT NULL,
                    ended_at    TIMESTAMPTZ
                );
                CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE ended_at IS NULL;
                CREATE TABLE refresh_tokens (
                    token_hash  BYTEA PRIMARY KEY,
                    session_id  UUID        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                    created_at  TIMESTAMPTZ NOT NULL,
                    used_at     TIMESTAMPTZ
                );
                CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
                "#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE refresh_tokens; DROP TABLE sessions")
            .await?;
        Ok(())
    }
}
