//! Ordered schema migrations of the recommender database, applied at start-up.
mod m20261128_000001_create_model;
mod m20261129_000002_list_versions;
mod m20261129_000003_list_age;
mod m20261129_000004_count_fillfactor;
mod m20261202_000005_replicated_state;

use sea_orm_migration::prelude::*;
use shared::pipeline::migration::CreatePipelineTables;

/// Applies the migrations below in order; sea-orm records which ran in `seaql_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreatePipelineTables),
            Box::new(m20261128_000001_create_model::Migration),
            Box::new(m20261129_000002_list_versions::Migration),
            Box::new(m20261129_000003_list_age::Migration),
            Box::new(m20261129_000004_count_fillfactor::Migration),
            Box::new(m20261202_000005_replicated_state::Migration),
        ]
    }
}
