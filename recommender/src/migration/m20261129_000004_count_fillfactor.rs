//! Free space in the pages of the count tables. Every flush adds to thousands of `co_counts` and
//! `item_counts` rows; with full pages an update cannot stay on its page, so each one also
//! inserts into the primary-key index. With room left, updates are "heap-only" (HOT): no index
//! work, and old versions are pruned in place. Applies to pages written from now on; an existing
//! table is repacked by `VACUUM FULL co_counts` (takes an exclusive lock: plan it).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE co_counts SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05); \
                 ALTER TABLE item_counts SET (fillfactor = 50)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE co_counts RESET (fillfactor, autovacuum_vacuum_scale_factor); \
                 ALTER TABLE item_counts RESET (fillfactor)",
            )
            .await?;
        Ok(())
    }
}
