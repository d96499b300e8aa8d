//! The supervised actor that publishes pending outbox rows in id order and marks them sent only
//! after the broker acknowledged them. One relay per database works at a time (a transaction-
//! scoped advisory lock), so several service instances never interleave their publications.
mod handlers;
pub mod messages;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use anyhow::Context as _;
use chrono::Utc;
use futures_util::future::join_all;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde::Deserialize;
use tokio::sync::Notify;

use super::entity::{self, Column, Entity as Outbox};
use crate::kafka::producer::EventProducer;
use crate::metrics::{register, LATENCY_BUCKETS};
use crate::retry;

pub use messages::Shutdown;

/// Longest pause between two failed relay rounds.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// `pg_try_advisory_xact_lock` key of the relay ("outbox" in ASCII).
const RELAY_LOCK: i64 = 0x6f75_7462_6f78;

/// How the relay polls, batches and prunes.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    /// Poll period when nothing wakes the relay (rows left from before a restart, other writers).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Rows published per transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
    /// How long sent rows are kept (for audits and replays) before they are deleted.
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u64,
    /// How often sent rows past retention are deleted.
    #[serde(default = "default_prune_interval_seconds")]
    pub prune_interval_seconds: u64,
}

fn default_poll_interval_ms() -> u64 {
    500
}
fn default_batch_size() -> u64 {
    500
}
fn default_retention_hours() -> u64 {
    168
}
fn default_prune_interval_seconds() -> u64 {
    600
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: default_poll_interval_ms(),
            batch_size: default_batch_size(),
            retention_hours: default_retention_hours(),
            prune_interval_seconds: default_prune_interval_seconds(),
        }
    }
}

/// Backlog, throughput, latency and failures of the relay.
#[derive(Clone)]
pub struct OutboxMetrics {
    pub backlog: IntGauge,
    pub published: IntCounter,
    pub latency: Histogram,
    pub failures: IntCounter,
}

impl OutboxMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            backlog: register(
                registry,
                IntGauge::new("outbox_backlog", "Outbox rows not yet published")?,
            )?,
            published: register(
                registry,
                IntCounter::new("outbox_published_total", "Outbox rows published")?,
            )?,
            latency: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "outbox_publish_latency_seconds",
                        "Time from the change's commit to the broker's acknowledgement",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )?,
            )?,
            failures: register(
                registry,
                IntCounter::new(
                    "outbox_relay_failures_total",
                    "Relay rounds that failed and were retried",
                )?,
            )?,
        })
    }
}

/// Everything the relay loop needs.
#[derive(Clone)]
struct Relay {
    db: DatabaseConnection,
    producer: EventProducer,
    settings: OutboxSettings,
    metrics: OutboxMetrics,
    wake: Arc<Notify>,
}

/// The actor; restarted by its `Supervisor` if it ever stops unexpectedly.
pub struct OutboxRelay {
    relay: Relay,
    loop_handle: Option<SpawnHandle>,
}

impl Actor for OutboxRelay {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let relay = self.relay.clone();
        self.loop_handle = Some(ctx.spawn(actix::fut::wrap_future(relay.run())));
    }
}

impl Supervised for OutboxRelay {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!("outbox relay restarting");
    }
}

/// A small handle so callers need not know about actix.
#[derive(Clone)]
pub struct OutboxHandle {
    addr: Addr<OutboxRelay>,
    wake: Arc<Notify>,
}

impl OutboxHandle {
    /// Starts the supervised relay.
    pub fn start(
        db: DatabaseConnection,
        producer: EventProducer,
        settings: OutboxSettings,
        metrics: OutboxMetrics,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let relay = Relay {
            db,
            producer,
            settings,
            metrics,
            wake: wake.clone(),
        };
        let addr = Supervisor::start(move |_| OutboxRelay {
            relay,
            loop_handle: None,
        });
        Self { addr, wake }
    }

    /// Asks the relay to publish now (after a transaction that enqueued events committed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the relay. Idempotent.
    pub async fn shutdown(&self) {
        // A closed mailbox means the relay is already gone, which is the goal.
        let _ = self.addr.send(Shutdown).await;
    }
}

impl Relay {
    async fn run(self) {
        let mut failures = retry::delays(MAX_RETRY_DELAY);
        let mut last_prune = Instant::now();
        loop {
            match self.publish_batch().await {
                Ok(published) => {
                    failures = retry::delays(MAX_RETRY_DELAY);
                    if published < self.settings.batch_size {
                        self.idle().await;
                    }
                }
                Err(e) => {
                    self.metrics.failures.inc();
                    let delay = failures.next().unwrap_or(MAX_RETRY_DELAY);
                    tracing::warn!(error.cause_chain = ?e, retry_in_ms = delay.as_millis() as u64,
                        "outbox relay round failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
            if last_prune.elapsed() >= Duration::from_secs(self.settings.prune_interval_seconds) {
                last_prune = Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error.cause_chain = ?e, "outbox prune failed");
                }
            }
        }
    }

    /// Waits for a wake-up or the poll interval, whichever comes first.
    async fn idle(&self) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let _ = tokio::time::timeout(poll, self.wake.notified()).await;
    }

    /// Publishes up to `batch_size` pending rows; returns how many were published.
    #[tracing::instrument(name = "outbox_publish", skip(self), fields(rows = tracing::field::Empty))]
    async fn publish_batch(&self) -> anyhow::Result<u64> {
        let txn = self
            .db
            .begin()
            .await
            .context("Failed to begin the outbox transaction")?;
        let locked = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [RELAY_LOCK.into()],
            ))
            .await
            .context("Failed to take the relay lock")?
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            // Another instance is relaying; ours stays idle until the next round.
            return Ok(0);
        }
        let rows = Outbox::find()
            .filter(Column::SentAt.is_null())
            .order_by_asc(Column::Id)
            .limit(self.settings.batch_size)
            .all(&txn)
            .await
            .context("Failed to read pending outbox rows")?;
        tracing::Span::current().record("rows", rows.len());
        // All sends are queued in id order before any is awaited, so they are pipelined and
        // the idempotent producer keeps their order within each partition.
        let results = join_all(rows.iter().map(|row| self.publish_row(row))).await;
        let acknowledged = results.iter().take_while(|r| r.is_ok()).count();
        if acknowledged > 0 {
            let ids = rows[..acknowledged].iter().map(|row| row.id);
            self.mark_sent(&txn, ids.collect()).await?;
        }
        let backlog = Outbox::find()
            .filter(Column::SentAt.is_null())
            .count(&txn)
            .await
            .context("Failed to count pending outbox rows")?;
        txn.commit()
            .await
            .context("Failed to commit the outbox transaction")?;
        self.metrics
            .backlog
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
        self.metrics.published.inc_by(acknowledged as u64);
        let now = Utc::now();
        for row in &rows[..acknowledged] {
            let age = (now - row.created_at.to_utc()).to_std().unwrap_or_default();
            self.metrics.latency.observe(age.as_secs_f64());
        }
        match results.into_iter().find_map(Result::err) {
            // Rows after the first failure stay pending and are republished in order (a few may
            // already be in Kafka: duplicates carry the same event_id).
            Some(e) => Err(e),
            None => Ok(acknowledged as u64),
        }
    }

    async fn publish_row(&self, row: &entity::Model) -> anyhow::Result<()> {
        let payload = serde_json::to_vec(&row.payload).context("Failed to encode an outbox row")?;
        self.producer
            .publish_encoded(
                &row.topic,
                &row.event_key,
                &row.event_id.to_string(),
                &row.event_type,
                &payload,
            )
            .await
            .with_context(|| format!("Failed to publish outbox row {}", row.id))?;
        Ok(())
    }

    /// Marks exactly the rows that were published as sent. Not "every pending row up to the
    /// last id": ids are allocated before commit, so a row with a lower id can commit after the
    /// batch was read, and must stay pending until it is published itself.
    async fn mark_sent(&self, txn: &impl ConnectionTrait, ids: Vec<i64>) -> anyhow::Result<()> {
        Outbox::update_many()
            .col_expr(Column::SentAt, Expr::current_timestamp().into())
            .filter(Column::Id.is_in(ids))
            .filter(Column::SentAt.is_null())
            .exec(txn)
            .await
            .context("Failed to mark outbox rows as sent")?;
        Ok(())
    }

    /// Deletes sent rows older than the retention period.
    async fn prune(&self) -> anyhow::Result<()> {
        let cutoff = Utc::now() - chrono::Duration::hours(self.settings.retention_hours as i64);
        let deleted = Outbox::delete_many()
            .filter(Column::SentAt.lt(cutoff))
            .exec(&self.db)
            .await
            .context("Failed to prune the outbox")?;
        tracing::info!(rows = deleted.rows_affected, "pruned sent outbox rows");
        Ok(())
    }
}
