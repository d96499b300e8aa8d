//! One actor per assigned topic-partition, on a thread of its own: buffers the partition's
//! events and flushes them through the service's [`Pipeline`]. It keeps taking events while a
//! flush runs (the flush owns the state meanwhile), so a slow partition never blocks the router;
//! past `max_buffered` events it pauses the partition's fetching until a flush drains it.
mod handlers;
mod isolation;
pub mod messages;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

pub use messages::{Buffer, FlushFailed, FlushNow, Origin, StateVisit, Visit};

use super::{FlushError, PartitionKey, Pipeline};
use crate::kafka::consumer::{DeadLetters, OffsetStore, PartitionControl};
use crate::metrics::PipelineMetrics;

/// What the router hands every partition: metrics, and the consumer's handles once the consumer
/// runs.
#[derive(Clone)]
pub struct Shared {
    pub metrics: PipelineMetrics,
    pub consumer: Arc<OnceLock<Attached>>,
}

/// The consumer's handles a partition uses.
pub struct Attached {
    /// Offset hints after flushes.
    pub offsets: OffsetStore,
    /// Pausing a full partition's fetching.
    pub control: PartitionControl,
    /// Events a store rejected.
    pub dead_letters: DeadLetters,
}

/// The actor.
pub struct PartitionActor<P: Pipeline> {
    key: PartitionKey,
    pipeline: P,
    shared: Shared,
    buffer: Vec<P::Event>,
    /// The message of each buffered event, index for index.
    origins: Vec<Origin>,
    /// `None` while a flush owns it.
    state: Option<P::State>,
    /// Visits that came during a flush.
    visits: Vec<StateVisit<P>>,
    /// Requests waiting until everything buffered is durable.
    waiters: Vec<oneshot::Sender<Result<(), FlushFailed>>>,
    paused: bool,
    /// When the last flush started (flushes start at most once per flush interval).
    last_flush: Option<Instant>,
}

impl<P: Pipeline> PartitionActor<P> {
    pub fn new(key: PartitionKey, pipeline: P, shared: Shared) -> Self {
        let state = pipeline.state(&key);
        Self {
            key,
            pipeline,
            shared,
            buffer: Vec::new(),
            origins: Vec::new(),
            state: Some(state),
            visits: Vec::new(),
            waiters: Vec::new(),
            paused: false,
            last_flush: None,
        }
    }

    /// Flushes now if the partition is idle and its last flush started a flush interval ago:
    /// the first events after a quiet spell are flushed at once (at rest, freshness is the
    /// commit time, not up to an interval), while a busy partition still flushes once per
    /// interval, in batches as large as the load makes them.
    fn flush_if_due(&mut self, ctx: &mut Context<Self>) {
        let interval = self.pipeline.settings().flush_interval;
        let due = self.last_flush.is_none_or(|at| at.elapsed() >= interval);
        if due && self.state.is_some() && !self.buffer.is_empty() {
            self.start_flush(ctx);
        }
    }

    fn partition_label(&self) -> String {
        self.key.partition.to_string()
    }

    fn record_buffered(&self) {
        self.shared
            .metrics
            .buffered
            .with_label_values(&[&self.key.topic, &self.partition_label()])
            .set(self.buffer.len() as i64);
    }

    /// Starts a flush of everything buffered unless one runs or there is nothing to flush.
    fn start_flush(&mut self, ctx: &mut Context<Self>) {
        if self.buffer.is_empty() {
            self.answer_waiters(Ok(()));
            return;
        }
        let Some(mut state) = self.state.take() else {
            return;
        };
        let events = std::mem::take(&mut self.buffer);
        let origins = std::mem::take(&mut self.origins);
        self.record_buffered();
        self.last_flush = Some(Instant::now());
        let pipeline = self.pipeline.clone();
        let key = self.key.clone();
        let shared = self.shared.clone();
        let flush = async move {
            let started = Instant::now();
            let isolation = isolation::Isolation {
                dead_letters: shared.consumer.get().map(|attached| &attached.dead_letters),
                metrics: &shared.metrics,
            };
            let result = isolation::flush(&pipeline, &mut state, &key, &events, &origins, isolation).await;
            (state, (events, origins), result, started.elapsed())
        };
        ctx.spawn(
            flush
                .into_actor(self)
                .map(|(state, events, result, elapsed), actor, ctx| {
                    actor.shared.metrics.flush_duration.observe(elapsed.as_secs_f64());
                    actor.flushed(state, events, result, ctx);
                }),
        );
    }

    /// Takes the state back after a flush and goes on.
    fn flushed(
        &mut self,
        state: P::State,
        (mut events, mut origins): (Vec<P::Event>, Vec<Origin>),
        result: Result<Option<i64>, FlushError>,
        ctx: &mut Context<Self>,
    ) {
        match result {
            Ok(next) => {
                self.state = Some(state);
                if let Some(next) = next {
                    self.store_hint(next);
                }
            }
            Err(error) => {
                let fenced = matches!(error, FlushError::Fenced);
                let reason = match error {
                    FlushError::Fenced => "fenced",
                    FlushError::Rejected(_) => "rejected",
                    FlushError::Failed(_) => "error",
                };
                self.shared
                    .metrics
                    .flush_failures
                    .with_label_values(&[reason])
                    .inc();
                // Nothing of it committed: its events come first in the next flush.
                events.append(&mut self.buffer);
                self.buffer = events;
                origins.append(&mut self.origins);
                self.origins = origins;
                self.record_buffered();
                let cause = format!("{error:#}");
                if fenced {
                    tracing::error!(partition = %self.key, "partition offset moved by another owner; its state is reloaded");
                    self.state = Some(self.pipeline.state(&self.key));
                } else {
                    tracing::warn!(partition = %self.key, error.cause_chain = ?error, "flush failed; retrying with the next one");
                    self.state = Some(state);
                }
                self.answer_waiters(Err(FlushFailed {
                    partition: self.key.clone(),
                    fenced,
                    cause,
                }));
            }
        }
        if let Some(state) = &mut self.state {
            for visit in self.visits.drain(..) {
                visit(state);
            }
        }
        self.resume_if_drained();
        if !self.waiters.is_empty() {
            // Events that arrived during the flush are not durable yet.
            self.start_flush(ctx);
        }
    }

    fn answer_waiters(&mut self, result: Result<(), FlushFailed>) {
        for waiter in self.waiters.drain(..) {
            // A waiter that gave up is fine.
            let _ = waiter.send(result.clone());
        }
    }

    /// The offset hint in Kafka, once the effect is durable (never ahead of Postgres).
    fn store_hint(&self, next: i64) {
        if let Some(attached) = self.shared.consumer.get() {
            if let Err(e) = attached.offsets.store(&self.key.topic, self.key.partition, next) {
                tracing::debug!(error = %e, partition = %self.key, "offset hint not stored (partition moved)");
            }
        }
    }

    fn pause_if_full(&mut self) {
        if self.paused || self.buffer.len() <= self.pipeline.settings().max_buffered {
            return;
        }
        if let Some(attached) = self.shared.consumer.get() {
            match attached.control.pause(&self.key.topic, self.key.partition) {
                Ok(()) => {
                    self.paused = true;
                    self.shared.metrics.paused.inc();
                    tracing::warn!(partition = %self.key, buffered = self.buffer.len(), "buffer full: fetching paused until a flush drains it");
                }
                Err(e) => {
                    tracing::warn!(error = %e, partition = %self.key, "could not pause a full partition")
                }
            }
        }
    }

    fn resume_if_drained(&mut self) {
        if !self.paused || self.buffer.len() > self.pipeline.settings().max_buffered / 2 {
            return;
        }
        if let Some(attached) = self.shared.consumer.get() {
            // A revoked partition cannot be resumed here; its next assignment resumes it.
            if let Err(e) = attached.control.resume(&self.key.topic, self.key.partition) {
                tracing::debug!(error = %e, partition = %self.key, "partition not resumed");
            }
        }
        self.paused = false;
        self.shared.metrics.paused.dec();
        tracing::info!(partition = %self.key, "fetching resumed");
    }
}

impl<P: Pipeline> Actor for PartitionActor<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Batches are small messages: a short queue keeps the router's memory bounded.
        ctx.set_mailbox_capacity(64);
        // Checked four times per interval: events wait at most about 1.25 intervals.
        let tick = (self.pipeline.settings().flush_interval / 4).max(std::time::Duration::from_millis(10));
        ctx.run_interval(tick, |actor, ctx| actor.flush_if_due(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        let _ = self
            .shared
            .metrics
            .buffered
            .remove_label_values(&[&self.key.topic, &self.partition_label()]);
        if self.paused {
            self.shared.metrics.paused.dec();
        }
        // The actor had this thread to itself.
        Arbiter::current().stop();
    }
}
