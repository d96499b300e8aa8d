//! Ordered schema migrations of the analytics database, applied at start-up.
use sea_orm_migration::prelude::*;

/// Applies the migrations below in order; sea-orm records which ran in `seaql_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        Vec::new()
    }
}
