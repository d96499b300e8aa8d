//! Postgres access of the recommender: the model's state (counts, sequences, offsets, processed
//! events) and the lists. Bulk writes take sorted keys so that concurrent flushes of different
//! partitions lock shared rows in the same order (no deadlocks).
pub mod lists;
pub mod state;

use sea_orm::{DbBackend, Statement, Value};

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
