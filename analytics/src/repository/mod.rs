//! Postgres access of analytics: a flush's writes (`flush`), the API's reads (`reads`) and
//! retention (`retention`).
pub mod flush;
pub mod reads;
pub mod retention;

use sea_orm::{DbBackend, Statement, Value};

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
