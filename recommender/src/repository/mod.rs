//! Storage of the recommender: in Postgres delta records and snapshots of the model state,
//! sequences and the lists; the lists' cache tiers (`cache`: Redis and in-process). Bulk writes take sorted keys so that concurrent flushes of
//! different partitions lock rows in the same order (no deadlocks).
pub mod cache;
pub mod catalogue;
pub mod deltas;
pub mod lists;
pub mod sequences;
pub mod snapshots;

use sea_orm::{DbBackend, Statement, Value};

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
