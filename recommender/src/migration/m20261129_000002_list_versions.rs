//! `recommendations.based_on`: the version of the user's sequence a list was built from, so a
//! recomputation from an older snapshot never overwrites a newer list.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE recommendations ADD COLUMN based_on BIGINT NOT NULL DEFAULT 0")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE recommendations DROP COLUMN based_on")
            .await?;
        Ok(())
    }
}
