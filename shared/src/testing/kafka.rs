//! Reading what was published, from the start of a topic.
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;

use super::unique_id;
use crate::configuration::KafkaSettings;
use crate::events::{self, Envelope};

/// A header of a consumed message as text (e.g. a dead-letter copy's `dlq.reason`).
pub fn header(message: &OwnedMessage, name: &str) -> String {
    use rdkafka::message::Headers;
    let headers = message
        .headers()
        .unwrap_or_else(|| panic!("no headers (looking for {name})"));
    let header = headers
        .iter()
        .find(|h| h.key == name)
        .unwrap_or_else(|| panic!("no {name} header"));
    String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned()
}

/// Reads `count` messages of the logical `topic` from the beginning (all partitions, own group),
/// or panics after `timeout`. Returns them in the order received (ordered per partition).
pub async fn read_messages(
    settings: &KafkaSettings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    read_messages_until(settings, topic, timeout, |messages| messages.len() >= count).await
}

/// Reads the logical `topic` from the beginning until `done` holds for what was read, or panics
/// after `timeout`.
pub async fn read_messages_until(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = crate::kafka::base_config(settings)
        .set("group.id", format!("reader_{}", unique_id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    let full = settings.topic(topic);
    consumer.subscribe(&[&full]).expect("subscribe");
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&messages) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(e)) => panic!("reading {full} failed: {e}"),
            Err(_) => panic!(
                "{full}: what arrived within {timeout:?} is not what the test waits for ({} messages)",
                messages.len()
            ),
        }
    }
    messages
}

/// Like [`read_messages`], decoding each message as an event envelope.
pub async fn read_events(
    settings: &KafkaSettings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Envelope> {
    decode_all(&read_messages(settings, topic, count, timeout).await)
}

/// Reads events of `topic` from the beginning until `done` holds for the events read so far
/// (in arrival order, duplicates included), or panics after `timeout`.
pub async fn read_events_until(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[Envelope]) -> bool,
) -> Vec<Envelope> {
    let messages =
        read_messages_until(settings, topic, timeout, |messages| done(&decode_all(messages))).await;
    decode_all(&messages)
}

fn decode_all(messages: &[OwnedMessage]) -> Vec<Envelope> {
    messages
        .iter()
        .map(|m| events::decode(m.payload()).expect("a valid envelope"))
        .collect()
}
