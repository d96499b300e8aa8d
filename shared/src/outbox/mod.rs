//! Transactional outbox: an event is written to the `outbox` table in the same database
//! transaction as the change it describes, and a relay actor publishes it to Kafka afterwards.
//! A committed change therefore always reaches Kafka, even if Kafka was down when it happened.
//!
//! Guarantees: at least once (a row is marked sent only after the broker's acknowledgement; a
//! crash in between republishes it with the same `event_id`), and in order per entity as long as
//! each transaction writes (and so locks) the entity's row before calling [`enqueue`]: a later
//! change of the same entity then waits for the earlier transaction and gets a larger outbox id.
pub mod entity;
pub mod migration;
pub mod relay;

use anyhow::Context;
use sea_orm::{ActiveModelTrait, ConnectionTrait, NotSet, Set};
use serde::Serialize;

use crate::events::Envelope;

pub use relay::{OutboxHandle, OutboxSettings};

/// Adds `event` for the logical `topic` to the outbox, inside the caller's transaction `txn`.
pub async fn enqueue<C: ConnectionTrait, P: Serialize>(
    txn: &C,
    topic: &str,
    event: &Envelope<P>,
) -> anyhow::Result<()> {
    let payload = serde_json::to_value(event).context("Failed to serialise the outbox event")?;
    entity::ActiveModel {
        id: NotSet,
        event_id: Set(event.event_id),
        topic: Set(topic.to_owned()),
        event_key: Set(event.key.clone()),
        event_type: Set(event.event_type.clone()),
        payload: Set(payload),
        created_at: NotSet,
        sent_at: Set(None),
    }
    .insert(txn)
    .await
    .context("Failed to insert the outbox row")?;
    Ok(())
}
