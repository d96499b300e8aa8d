//! PostgreSQL: connection pool and migrations.
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;

use crate::configuration::DatabaseSettings;

/// A lazy pool: no connection is made until first use, so a service starts (and reports
/// not-ready) while its database is still down.
pub async fn connect_lazy(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(settings.url().expose_secret().to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_seconds))
        .idle_timeout(Duration::from_secs(300))
        // No `SELECT 1` round trip before every query (it was a third of a busy consumer's
        // database time). A connection that broke while idle fails its next query, which is
        // retried (pipelines) or answered 503 (HTTP), and the pool drops it.
        .test_before_acquire(false)
        .sqlx_logging(false)
        .connect_lazy(true);
    Database::connect(options)
        .await
        .context("Failed to build the database pool")
}

/// The PostgreSQL advisory lock every service holds while it migrates ("recp" in ASCII).
const MIGRATION_LOCK: i64 = 0x7265_6370;

/// Applies pending migrations, retrying while the database is unreachable for up to
/// `settings.startup_timeout_seconds` (containers start in any order). Replicas starting
/// together (a Kubernetes rollout, `--scale`) migrate one at a time: each holds an advisory lock
/// on a session of its own while it migrates, and the next finds the migrations applied.
pub async fn migrate<M: MigratorTrait>(
    db: &DatabaseConnection,
    settings: &DatabaseSettings,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(settings.startup_timeout_seconds);
    let mut delay = Duration::from_millis(200);
    loop {
        match migrate_locked::<M>(db).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() + delay < deadline => {
                tracing::warn!(error.cause_chain = ?e, retry_in_ms = delay.as_millis() as u64,
                    "database not ready for migrations; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e).context("Failed to run database migrations"),
        }
    }
}

/// One attempt: the lock on a dedicated session, the migrations, the lock released. A process
/// that dies meanwhile releases the lock with its session.
async fn migrate_locked<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    use sea_orm::sqlx;
    let mut session = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .context("Failed to open a session for the migration lock")?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *session)
        .await
        .context("Failed to take the migration lock")?;
    let migrated = M::up(db, None).await;
    let released = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *session)
        .await;
    if released.is_err() {
        // Never hand a session that may still hold the lock back to the pool.
        drop(session.detach());
    }
    migrated.context("Failed to run database migrations")?;
    Ok(())
}

/// True when `error` (anywhere in its chain) means the database could not be reached.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    use sea_orm::{sqlx, DbErr, RuntimeErr};
    error.chain().any(|cause| match cause.downcast_ref::<DbErr>() {
        Some(DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => true,
        Some(DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) => matches!(
            e,
            sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
        ),
        _ => false,
    })
}

/// SQLSTATE classes that a given row always fails with, whatever the time or the server state:
/// data exceptions (22: a value out of range, an invalid byte sequence), integrity violations
/// (23) and program limits (54: a value too large).
const DATA_DEPENDENT_SQLSTATE_CLASSES: [&str; 3] = ["22", "23", "54"];

/// True when PostgreSQL refused the data itself (anywhere in the chain), so that retrying the
/// same statement can never succeed: the event that carries the data must be isolated, not
/// retried. Connection failures, timeouts, serialization failures and privilege errors are
/// not: they may pass, or are the operator's to fix.
pub fn rejected_by_store(error: &anyhow::Error) -> bool {
    use sea_orm::{sqlx, DbErr, RuntimeErr};
    let refused = |e: &sqlx::Error| match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            DATA_DEPENDENT_SQLSTATE_CLASSES
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    };
    error.chain().any(|cause| {
        if let Some(DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) =
            cause.downcast_ref::<DbErr>()
        {
            return refused(e);
        }
        cause.downcast_ref::<sqlx::Error>().is_some_and(refused)
    })
}

/// The HTTP answer for an unexpected failure: 503 while the database is unreachable (the
/// client may retry), else 500. The cause chain is logged either way.
pub fn unexpected(error: anyhow::Error) -> crate::http::ApiError {
    if is_unavailable(&error) {
        crate::http::ApiError::unavailable("The database is unavailable; retry later.", error)
    } else {
        crate::http::ApiError::internal(error)
    }
}
