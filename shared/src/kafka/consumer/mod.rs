//! The Kafka consumer actor: reads topics in a consumer group and hands the decoded events to a
//! handler actor, either one at a time ([`ConsumerSpec::new`]) or in batches of whatever was
//! ready ([`ConsumerSpec::batching`]); either way every partition is processed in order.
//!
//! Offset discipline (at least once): `enable.auto.offset.store=false`. Per event: an offset is
//! stored only after the handler succeeded or the message was written to the dead-letter topic.
//! Batching: the handler stores offsets itself ([`OffsetStore`]) once its effect is durable, and
//! dead-lettered messages store nothing (their offset is passed by the handler's next durable
//! write; after a crash before it they are read, and dead-lettered, again). Stored offsets are
//! committed every `commit_interval_ms`, on partition revoke and on shutdown. A transient
//! handler failure retries the same event (or batch) with backoff and never skips it.
mod handlers;
pub mod messages;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message as _, OwnedHeaders, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};

pub use messages::{
    ConsumedEvent, GetAssignment, HandleBatch, HandleError, HandleEvent, RawEvent, Shutdown, StopFetching,
};

use crate::configuration::KafkaSettings;
use crate::events::{self, topics};
use crate::kafka::producer::{EventProducer, RawMessage};
use crate::metrics::ConsumerMetrics;
use crate::retry;

/// Most messages handed over in one batch.
const MAX_BATCH: usize = 2048;

/// What to consume and who applies it.
pub struct ConsumerSpec {
    /// Logical topic names (the deployment's prefix is added).
    pub topics: Vec<String>,
    /// Consumer group id; members of one group split the partitions.
    pub group_id: String,
    /// The actor that applies the events, and how it takes them.
    pub handler: EventHandler,
    /// Called (on the consumer's thread, blocking it) before partitions are taken away, so the
    /// handler can finish and persist its work on them first.
    pub on_revoke: Option<RevokeHook>,
}

/// How events reach the handler.
pub enum EventHandler {
    /// One event at a time; the consumer stores its offset once handled.
    Each(Recipient<HandleEvent>),
    /// Batches of ready events; the handler stores offsets once its effect is durable (it
    /// flushes batches with the offsets in its own transaction).
    Batches(Recipient<HandleBatch>),
}

impl ConsumerSpec {
    /// Consumes `topics` in `group_id` one event at a time, storing offsets after each.
    pub fn new(topics: &[&str], group_id: impl Into<String>, handler: Recipient<HandleEvent>) -> Self {
        Self {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            group_id: group_id.into(),
            handler: EventHandler::Each(handler),
            on_revoke: None,
        }
    }

    /// For handlers that flush batches with their offsets in their own transaction: events
    /// arrive in batches, offsets are stored by the handler, and `on_revoke` runs before
    /// partitions are taken away.
    pub fn batching(
        topics: &[&str],
        group_id: impl Into<String>,
        handler: Recipient<HandleBatch>,
        on_revoke: RevokeHook,
    ) -> Self {
        Self {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            group_id: group_id.into(),
            handler: EventHandler::Batches(handler),
            on_revoke: Some(on_revoke),
        }
    }
}

/// A callback given the `(logical topic, partition)`s being revoked.
pub type RevokeHook = Arc<dyn Fn(&[(String, i32)]) + Send + Sync>;

/// Lets a batching handler store the offsets its durable work covers.
#[derive(Clone)]
pub struct OffsetStore {
    // Weak: a stopped consumer must close (and leave its group) even while handlers hold this.
    consumer: Weak<StreamConsumer<ConsumerCallbacks>>,
    settings: KafkaSettings,
}

impl OffsetStore {
    /// Records that everything before `next_offset` of the logical `topic`'s `partition` is done;
    /// committed with the next auto-commit. Fails if the partition is no longer assigned.
    pub fn store(&self, topic: &str, partition: i32, next_offset: i64) -> KafkaResult<()> {
        let consumer = self
            .consumer
            .upgrade()
            .ok_or(KafkaError::StoreOffset(RDKafkaErrorCode::State))?;
        // librdkafka stores the given offset + 1.
        consumer.store_offset(&self.settings.topic(topic), partition, next_offset - 1)
    }
}

/// Lets a batching handler stop fetching a partition it cannot keep up with (its buffer is
/// full because its flushes fail or lag) without stalling the others, and start again.
/// librdkafka drops what it prefetched for a paused partition and fetches again from the
/// next undelivered offset on resume; partitions are resumed whenever they are assigned.
#[derive(Clone)]
pub struct PartitionControl {
    consumer: Weak<StreamConsumer<ConsumerCallbacks>>,
    settings: KafkaSettings,
}

impl PartitionControl {
    fn list(&self, topic: &str, partition: i32) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.settings.topic(topic), partition);
        list
    }

    /// Stops fetching the logical `topic`'s `partition`.
    pub fn pause(&self, topic: &str, partition: i32) -> KafkaResult<()> {
        let consumer = self
            .consumer
            .upgrade()
            .ok_or(KafkaError::PauseResume("consumer stopped".into()))?;
        consumer.pause(&self.list(topic, partition))
    }

    /// Fetches the partition again.
    pub fn resume(&self, topic: &str, partition: i32) -> KafkaResult<()> {
        let consumer = self
            .consumer
            .upgrade()
            .ok_or(KafkaError::PauseResume("consumer stopped".into()))?;
        consumer.resume(&self.list(topic, partition))
    }
}

/// The actor. Its only state is the librdkafka consumer; the work runs in a loop future spawned
/// on the actor's context, so `Shutdown` can cancel it between two awaits.
pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<ConsumerCallbacks>>,
    worker: Option<Worker>,
    loop_handle: Option<SpawnHandle>,
}

impl Actor for KafkaConsumer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(worker) = self.worker.take() {
            self.loop_handle = Some(ctx.spawn(actix::fut::wrap_future(worker.run())));
        }
    }
}

/// A small handle so callers need not know about actix.
#[derive(Clone)]
pub struct ConsumerHandle {
    addr: Addr<KafkaConsumer>,
    offsets: OffsetStore,
    control: PartitionControl,
    dead_letters: DeadLetters,
}

impl ConsumerHandle {
    /// Subscribes to `spec.topics` and starts consuming in the background.
    pub fn start(
        settings: &KafkaSettings,
        spec: ConsumerSpec,
        dead_letters: EventProducer,
        metrics: ConsumerMetrics,
    ) -> anyhow::Result<Self> {
        let callbacks = ConsumerCallbacks {
            metrics: metrics.clone(),
            on_revoke: spec.on_revoke.clone(),
            topic_prefix: settings.topic_prefix.clone(),
        };
        let mut config = super::base_config(settings);
        // Static membership for the service's own group only (the catalogue consumers' groups
        // are per instance anyway).
        if !settings.group_instance_id.is_empty() && spec.group_id == settings.consumer_group {
            config.set("group.instance.id", &settings.group_instance_id);
        }
        let consumer: StreamConsumer<ConsumerCallbacks> = config
            .set("group.id", &spec.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", settings.commit_interval_ms.to_string())
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", settings.session_timeout_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (settings.session_timeout_ms / 3).to_string(),
            )
            .set(
                "statistics.interval.ms",
                settings.statistics_interval_ms.to_string(),
            )
            .create_with_context(callbacks)?;
        let full_topics: Vec<String> = spec.topics.iter().map(|t| settings.topic(t)).collect();
        let topic_refs: Vec<&str> = full_topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topic_refs)?;
        let consumer = Arc::new(consumer);
        let offsets = OffsetStore {
            consumer: Arc::downgrade(&consumer),
            settings: settings.clone(),
        };
        let control = PartitionControl {
            consumer: Arc::downgrade(&consumer),
            settings: settings.clone(),
        };
        let dead_letters = DeadLetters {
            producer: dead_letters,
            settings: settings.clone(),
            metrics: metrics.clone(),
        };
        let worker = Worker {
            consumer: consumer.clone(),
            handler: spec.handler,
            dead_letters: dead_letters.clone(),
            settings: settings.clone(),
            metrics,
            topic_names: spec.topics.iter().map(|t| Arc::from(t.as_str())).collect(),
        };
        let addr = KafkaConsumer {
            consumer,
            worker: Some(worker),
            loop_handle: None,
        }
        .start();
        Ok(Self {
            addr,
            offsets,
            control,
            dead_letters,
        })
    }

    /// The dead-letter writer, for batching handlers that reject an event after taking it.
    pub fn dead_letters(&self) -> DeadLetters {
        self.dead_letters.clone()
    }

    /// The offset store, for handlers that store their own offsets.
    pub fn offsets(&self) -> OffsetStore {
        self.offsets.clone()
    }

    /// Pausing and resuming partitions, for batching handlers.
    pub fn control(&self) -> PartitionControl {
        self.control.clone()
    }

    /// The partitions this member currently owns.
    pub async fn assignment(&self) -> Vec<(String, i32)> {
        self.addr.send(GetAssignment).await.unwrap_or_default()
    }

    /// Stops handing messages over, keeping the partitions (see [`StopFetching`]). Idempotent.
    pub async fn stop_fetching(&self) {
        let _ = self.addr.send(StopFetching).await;
    }

    /// Stops consuming and commits what was processed. Idempotent.
    pub async fn shutdown(&self) {
        // A closed mailbox means the actor is already gone, which is the goal.
        let _ = self.addr.send(Shutdown).await;
    }
}

/// Everything the consume loop needs, owned by the loop future.
struct Worker {
    consumer: Arc<StreamConsumer<ConsumerCallbacks>>,
    handler: EventHandler,
    dead_letters: DeadLetters,
    settings: KafkaSettings,
    metrics: ConsumerMetrics,
    /// The logical names of the subscribed topics, shared by the raw events.
    topic_names: Vec<Arc<str>>,
}

impl Worker {
    async fn run(self) {
        loop {
            let message = match self.consumer.recv().await {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "Kafka consumer error; continuing");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            match &self.handler {
                // Detach: the handler gets owned data and the consumer is free to poll again.
                EventHandler::Each(handler) => self.process(handler, message.detach()).await,
                EventHandler::Batches(handler) => {
                    let first = self.raw(&message);
                    drop(message);
                    let batch = self.ready(first);
                    self.process_batch(handler, batch).await;
                }
            }
        }
    }

    /// `first` and whatever else librdkafka already holds, up to [`MAX_BATCH`] messages, as
    /// raw events (payload and key copied; headers never parsed).
    fn ready(&self, first: RawEvent) -> Vec<RawEvent> {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match self.consumer.recv().now_or_never() {
                Some(Ok(message)) => batch.push(self.raw(&message)),
                Some(Err(e)) => {
                    tracing::warn!(error.cause_chain = ?e, "Kafka consumer error; continuing");
                    break;
                }
                None => break,
            }
        }
        batch
    }

    fn raw(&self, message: &BorrowedMessage<'_>) -> RawEvent {
        let logical = self.settings.logical_topic(message.topic());
        // One shared name per topic, not one string per message.
        let topic = self
            .topic_names
            .iter()
            .find(|name| &***name == logical)
            .cloned()
            .unwrap_or_else(|| logical.into());
        RawEvent {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
        }
    }

    /// Hands a batch to the handler until it takes it, then dead-letters what it rejects (it
    /// decodes the messages itself). Stores no offset (the handler does).
    #[tracing::instrument(level = "debug", name = "consume_batch", skip_all, fields(messages = batch.len()))]
    async fn process_batch(&self, handler: &Recipient<HandleBatch>, batch: Vec<RawEvent>) {
        let batch = Arc::new(batch);
        let rejected = self.deliver_batch(handler, &batch).await;
        let mut dead = vec![false; batch.len()];
        for (index, reason) in rejected {
            let Some(event) = batch.get(index) else {
                tracing::error!(index, "the handler rejected a message it was not given");
                continue;
            };
            dead[index] = true;
            self.dead_letters.raw(event, &reason).await;
        }
        let mut outcomes: HashMap<(&str, &'static str), u64> = HashMap::new();
        for (event, dead) in batch.iter().zip(dead) {
            let label = if dead { "dead_lettered" } else { "handled" };
            *outcomes.entry((&*event.topic, label)).or_default() += 1;
        }
        for ((topic, label), count) in outcomes {
            self.metrics
                .consumed
                .with_label_values(&[topic, label])
                .inc_by(count);
        }
    }

    /// Hands a batch over until the handler takes it; the messages it rejects.
    async fn deliver_batch(
        &self,
        handler: &Recipient<HandleBatch>,
        batch: &Arc<Vec<RawEvent>>,
    ) -> Vec<(usize, String)> {
        let topic = batch.first().map_or(String::new(), |e| e.topic.to_string());
        let mut backoff = retry::delays(MAX_RETRY_DELAY);
        loop {
            let started = Instant::now();
            let error = match handler.send(HandleBatch(batch.clone())).await {
                Ok(Ok(rejected)) => {
                    self.metrics
                        .handler_duration
                        .with_label_values(&[&topic])
                        .observe(started.elapsed().as_secs_f64());
                    return rejected;
                }
                // A batch cannot be rejected as a whole: its messages are rejected one by one.
                Ok(Err(HandleError::Rejected(reason))) => anyhow::anyhow!("batch refused: {reason}"),
                Ok(Err(HandleError::Transient(e))) => e,
                Err(e) => anyhow::Error::new(e).context("handler actor unavailable"),
            };
            self.metrics.retries.with_label_values(&[&topic]).inc();
            let delay = backoff.next().unwrap_or(MAX_RETRY_DELAY);
            tracing::warn!(error.cause_chain = ?error, retry_in_ms = delay.as_millis() as u64,
                "batch handler failed; retrying the same batch");
            tokio::time::sleep(delay).await;
        }
    }

    #[tracing::instrument(name = "consume", skip_all, fields(
        topic = %message.topic(), partition = message.partition(), offset = message.offset(),
        event_id = tracing::field::Empty))]
    async fn process(&self, handler: &Recipient<HandleEvent>, message: OwnedMessage) {
        let logical = self.settings.logical_topic(message.topic()).to_owned();
        let outcome = match events::decode(message.payload()) {
            Ok(envelope) => {
                tracing::Span::current().record("event_id", tracing::field::display(envelope.event_id));
                let event = Arc::new(ConsumedEvent {
                    topic: logical.clone(),
                    partition: message.partition(),
                    offset: message.offset(),
                    timestamp_ms: message.timestamp().to_millis(),
                    envelope,
                });
                self.deliver(handler, event).await
            }
            Err(e) => Err(e.to_string()),
        };
        let label = match outcome {
            Ok(()) => "handled",
            Err(reason) => {
                let undeliverable = Undeliverable {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key(),
                    payload: message.payload(),
                    headers: original_headers(&message),
                };
                self.dead_letters.send(&undeliverable, &logical, &reason).await;
                "dead_lettered"
            }
        };
        self.metrics.consumed.with_label_values(&[&logical, label]).inc();
        // Handled or durably dead-lettered: either way this message is done.
        self.store_offset(&message);
    }

    /// Hands the event to the handler until it succeeds or rejects it (`Err(reason)`).
    async fn deliver(
        &self,
        handler: &Recipient<HandleEvent>,
        event: Arc<ConsumedEvent>,
    ) -> Result<(), String> {
        let mut backoff = retry::delays(MAX_RETRY_DELAY);
        loop {
            let started = Instant::now();
            let error = match handler.send(HandleEvent(event.clone())).await {
                Ok(Ok(())) => {
                    self.metrics
                        .handler_duration
                        .with_label_values(&[&event.topic])
                        .observe(started.elapsed().as_secs_f64());
                    return Ok(());
                }
                Ok(Err(HandleError::Rejected(reason))) => return Err(reason),
                // The store refused the event's data: retrying would stall the partition forever.
                Ok(Err(HandleError::Transient(e))) if crate::db::rejected_by_store(&e) => {
                    return Err(format!("rejected by a store: {e:#}"));
                }
                Ok(Err(HandleError::Transient(e))) => e,
                Err(e) => anyhow::Error::new(e).context("handler actor unavailable"),
            };
            self.metrics.retries.with_label_values(&[&event.topic]).inc();
            let delay = backoff.next().unwrap_or(MAX_RETRY_DELAY);
            tracing::warn!(error.cause_chain = ?error, retry_in_ms = delay.as_millis() as u64,
                "event handler failed; retrying the same event");
            tokio::time::sleep(delay).await;
        }
    }

    fn store_offset(&self, message: &OwnedMessage) {
        // librdkafka stores offset + 1, the next message to read.
        if let Err(e) = self
            .consumer
            .store_offset(message.topic(), message.partition(), message.offset())
        {
            // The partition was revoked meanwhile: its new owner re-reads this message.
            tracing::debug!(error = %e, "offset not stored (partition no longer assigned)");
        }
    }
}

/// Writes undeliverable messages to `<topic>.dlq` (cheap to clone).
#[derive(Clone)]
pub struct DeadLetters {
    producer: EventProducer,
    settings: KafkaSettings,
    metrics: ConsumerMetrics,
}

impl DeadLetters {
    /// Dead-letters a message as it was read (batches), with the event's headers from its
    /// envelope. Returns once the broker acknowledged the copy.
    pub async fn raw(&self, event: &RawEvent, reason: &str) {
        let message = Undeliverable {
            partition: event.partition,
            offset: event.offset,
            key: event.key(),
            payload: event.payload(),
            headers: envelope_headers(event.payload()),
        };
        self.send(&message, &event.topic, reason).await;
    }

    /// Copies the message to `<topic>.dlq` with the reason and origin in headers; retries until
    /// the broker acknowledges, so the offset never passes an unsaved message.
    async fn send(&self, message: &Undeliverable<'_>, logical: &str, reason: &str) {
        let dlq = self.settings.topic(&topics::dead_letter(logical));
        tracing::error!(reason, dead_letter_topic = %dlq, topic = logical, partition = message.partition,
            offset = message.offset, "undeliverable message sent to the dead-letter topic");
        let mut backoff = retry::delays(MAX_RETRY_DELAY);
        loop {
            let headers = dead_letter_headers(message, &self.settings.topic(logical), reason);
            let sent = self
                .producer
                .send(RawMessage {
                    topic: &dlq,
                    key: message.key,
                    payload: message.payload,
                    headers,
                })
                .await;
            match sent {
                Ok(_) => return,
                Err(e) => {
                    self.metrics.retries.with_label_values(&[logical]).inc();
                    let delay = backoff.next().unwrap_or(MAX_RETRY_DELAY);
                    tracing::warn!(error.cause_chain = ?e, "dead-letter write failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// What a dead-letter copy is made of.
struct Undeliverable<'a> {
    partition: i32,
    offset: i64,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    /// The message's own headers (or, for batched messages, the event's from its envelope).
    headers: Vec<(String, Vec<u8>)>,
}

/// A message's headers, as they came.
fn original_headers(message: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    message.headers().map_or_else(Vec::new, |headers| {
        headers
            .iter()
            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
            .collect()
    })
}

/// The headers producers put on an event (`event_id`, `event_type`), read back from its
/// envelope when the payload has one.
fn envelope_headers(payload: Option<&[u8]>) -> Vec<(String, Vec<u8>)> {
    #[derive(serde::Deserialize)]
    struct Ids {
        event_id: Option<String>,
        event_type: Option<String>,
    }
    let Some(ids) = payload.and_then(|p| serde_json::from_slice::<Ids>(p).ok()) else {
        return Vec::new();
    };
    [("event_id", ids.event_id), ("event_type", ids.event_type)]
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value?.into_bytes())))
        .collect()
}

/// The original headers plus `dlq.reason`, `dlq.topic`, `dlq.partition`, `dlq.offset`.
fn dead_letter_headers(message: &Undeliverable<'_>, topic: &str, reason: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    for (key, value) in &message.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_slice()),
        });
    }
    let partition = message.partition.to_string();
    let offset = message.offset.to_string();
    headers
        .insert(Header {
            key: "dlq.reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "dlq.topic",
            value: Some(topic),
        })
        .insert(Header {
            key: "dlq.partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "dlq.offset",
            value: Some(offset.as_str()),
        })
}

/// librdkafka callbacks: lag metrics from statistics, the revoke hook, and commits on revoke.
pub struct ConsumerCallbacks {
    metrics: ConsumerMetrics,
    on_revoke: Option<RevokeHook>,
    topic_prefix: String,
}

impl ClientContext for ConsumerCallbacks {
    fn stats(&self, statistics: Statistics) {
        for (topic, stats) in &statistics.topics {
            for (partition, p) in &stats.partitions {
                // Partition -1 is librdkafka's internal one; lag -1 means "not known yet".
                if *partition >= 0 && p.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .with_label_values(&[topic.as_str(), &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for ConsumerCallbacks {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                if let Some(hook) = &self.on_revoke {
                    let revoked: Vec<(String, i32)> = partitions
                        .elements()
                        .iter()
                        .map(|e| {
                            let topic = e
                                .topic()
                                .strip_prefix(self.topic_prefix.as_str())
                                .unwrap_or(e.topic());
                            (topic.to_owned(), e.partition())
                        })
                        .collect();
                    hook(&revoked);
                }
                // No event is in flight here (callbacks run inside `recv`), so every stored
                // offset is final: commit them before another member takes the partitions.
                if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                    log_commit_error(&e);
                }
                self.forget_lag(partitions);
                tracing::info!(partitions = ?list(partitions), "partitions revoked");
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = ?list(partitions), "partitions assigned");
            }
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // A partition paused by an earlier owner of this consumer stays paused in librdkafka
        // across revoke and re-assignment: whatever was paused, an assigned partition flows.
        if let Rebalance::Assign(partitions) = rebalance {
            let mut resumable = TopicPartitionList::new();
            for e in partitions.elements() {
                resumable.add_partition(e.topic(), e.partition());
            }
            if let Err(e) = consumer.resume(&resumable) {
                tracing::warn!(error = %e, "could not resume assigned partitions");
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            log_commit_error(&e);
        }
    }
}

impl ConsumerCallbacks {
    fn forget_lag(&self, partitions: &TopicPartitionList) {
        for e in partitions.elements() {
            // Absent labels are fine: the partition may never have reported statistics.
            let _ = self
                .metrics
                .lag
                .remove_label_values(&[e.topic(), &e.partition().to_string()]);
        }
    }
}

fn log_commit_error(e: &KafkaError) {
    // "No offset" only means nothing new was processed since the last commit.
    if e.rdkafka_error_code() != Some(RDKafkaErrorCode::NoOffset) {
        tracing::warn!(error = %e, "offset commit failed");
    }
}

fn list(partitions: &TopicPartitionList) -> Vec<String> {
    partitions
        .elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect()
}
