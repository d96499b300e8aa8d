//! Ordered schema migrations of the products database, applied at start-up.
mod m20261128_000002_create_products;

use sea_orm_migration::prelude::*;
use shared::outbox::migration::CreateOutbox;

/// Applies the migrations below in order; sea-orm records which ran in `seaql_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateOutbox),
            Box::new(m20261128_000002_create_products::Migration),
        ]
    }
}
