//! A flush that isolates poison: when a store rejects a batch for a reason retrying cannot
//! change (or the flush panics), the batch is split in halves and each half flushed in order,
//! down to the single event that causes it. That event is dead-lettered with the reason and the
//! partition's offset moved past it ([`Pipeline::skip`]); everything else is applied. Finding one
//! poison event among n costs about 2·log2(n) flushes, paid only when one is there.
use std::ops::Range;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::messages::Origin;
use crate::kafka::consumer::DeadLetters;
use crate::metrics::PipelineMetrics;
use crate::pipeline::{FlushError, PartitionKey, Pipeline};

/// Longest reason written into a dead-letter header (a cause chain can quote the data).
const MAX_REASON_BYTES: usize = 1024;

/// What the partition needs to isolate an event.
pub struct Isolation<'a> {
    /// `None` before the consumer is attached: a rejected event is then retried, not dropped.
    pub dead_letters: Option<&'a DeadLetters>,
    pub metrics: &'a PipelineMetrics,
}

/// Flushes `events` (with their `origins`, index for index), isolating rejected events; returns
/// the partition's next offset if it moved. `Err` is a transient failure or a fence: the
/// caller flushes the same events again later (what was committed meanwhile is skipped by the
/// pipeline's offset floor).
pub async fn flush<P: Pipeline>(
    pipeline: &P,
    state: &mut P::State,
    key: &PartitionKey,
    events: &[P::Event],
    origins: &[Origin],
    isolation: Isolation<'_>,
) -> Result<Option<i64>, FlushError> {
    // Ranges still to flush, the next one last.
    let mut pending: Vec<Range<usize>> = Vec::with_capacity(64);
    pending.push(0..events.len());
    let mut next = None;
    while let Some(range) = pending.pop() {
        match guarded(pipeline, state, key, &events[range.clone()]).await {
            Ok(moved) => next = moved.or(next),
            Err(FlushError::Rejected(cause)) if range.len() > 1 => {
                tracing::warn!(partition = %key, events = range.len(), error.cause_chain = ?cause,
                    "a store rejected a batch; flushing its halves to find the event");
                let middle = range.start + range.len() / 2;
                pending.push(middle..range.end);
                pending.push(range.start..middle);
            }
            Err(FlushError::Rejected(cause)) => {
                let Some(dead_letters) = isolation.dead_letters else {
                    return Err(FlushError::Rejected(cause));
                };
                let message = origins[range.start].message();
                let reason = truncate(format!("rejected by a store: {cause:#}"));
                dead_letters.raw(message, &reason).await;
                isolation
                    .metrics
                    .dead_lettered
                    .with_label_values(&[&key.topic])
                    .inc();
                let past = message.offset() + 1;
                pipeline.skip(state, key, past).await?;
                next = Some(past);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(next)
}

/// One flush; a panic inside it counts as a rejection of its events (and the partition's state,
/// which the panic may have left half-changed, is rebuilt as after a fence).
async fn guarded<P: Pipeline>(
    pipeline: &P,
    state: &mut P::State,
    key: &PartitionKey,
    events: &[P::Event],
) -> Result<Option<i64>, FlushError> {
    let flushed = AssertUnwindSafe(pipeline.flush(state, key, events))
        .catch_unwind()
        .await;
    match flushed {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic".to_owned());
            tracing::error!(partition = %key, panic = %message, "a flush panicked; its state is reloaded");
            *state = pipeline.state(key);
            Err(FlushError::Rejected(anyhow::anyhow!(
                "the flush panicked: {message}"
            )))
        }
    }
}

fn truncate(mut reason: String) -> String {
    if reason.len() > MAX_REASON_BYTES {
        let mut end = MAX_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let reason = truncate("é".repeat(MAX_REASON_BYTES));
        assert!(reason.len() <= MAX_REASON_BYTES + '…'.len_utf8());
        assert!(reason.ends_with('…'));
        assert_eq!(truncate("short".into()), "short");
    }
}
