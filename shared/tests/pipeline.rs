//! The shared batching pipeline against the real broker: a partition whose flushes hang does
//! not hold up the others, it is paused once its buffer is full and resumed once it drains, with
//! every event delivered once and in order; a dead-lettered event never moves the committed
//! offset past events that are not durable yet; an event a store rejects (or whose flush
//! panics) is isolated from its batch and dead-lettered while every other event is applied.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use serde_json::json;
use shared::configuration::KafkaSettings;
use shared::events::{topics, Envelope};
use shared::kafka::consumer::{ConsumerHandle, ConsumerSpec, RawEvent};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ConsumerMetrics, PipelineMetrics, ProducerMetrics};
use shared::pipeline::{FlushError, PartitionKey, Pipeline, PipelineHandle, PipelineSettings};
use shared::testing::{eventually, header, isolate, local_settings, read_messages};
use std::sync::Mutex;

const WAIT: Duration = Duration::from_secs(30);

/// `(offset, n)` of every flushed event, by partition.
type Flushed = BTreeMap<i32, Vec<(i64, i64)>>;

/// Records what each partition flushed, `(offset, n)` in flush order. The flushes of the
/// partition in `stuck` wait while `hold` is set; payloads with `"reject": true` do not decode;
/// a flush holding `n` = [`STORE_REJECTS`] fails as a store's data error would, one holding
/// [`PANICS`] panics.
#[derive(Clone)]
struct Recording {
    flushed: Arc<Mutex<Flushed>>,
    stuck: Arc<AtomicI32>,
    hold: Arc<AtomicBool>,
    /// `(partition, next offset)` of every skip.
    skips: Arc<Mutex<Vec<(i32, i64)>>>,
}

const STORE_REJECTS: i64 = -2;
const PANICS: i64 = -3;

#[async_trait::async_trait(?Send)]
impl Pipeline for Recording {
    type Event = (i64, i64);
    type State = ();

    fn settings(&self) -> PipelineSettings {
        PipelineSettings {
            flush_interval: Duration::from_millis(100),
            max_buffered: 5,
        }
    }

    fn decode(&self, event: &RawEvent) -> Result<(i64, i64), String> {
        let envelope = shared::events::decode(event.payload()).map_err(|e| e.to_string())?;
        if envelope.payload["reject"] == json!(true) {
            return Err("payload says reject".into());
        }
        Ok((event.offset(), envelope.payload["n"].as_i64().unwrap_or(-1)))
    }

    fn state(&self, _: &PartitionKey) {}

    async fn flush(
        &self,
        _: &mut (),
        key: &PartitionKey,
        events: &[(i64, i64)],
    ) -> Result<Option<i64>, FlushError> {
        while key.partition == self.stuck.load(Ordering::SeqCst) && self.hold.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if events.iter().any(|(_, n)| *n == STORE_REJECTS) {
            return Err(FlushError::Rejected(anyhow::anyhow!("value out of range")));
        }
        assert!(events.iter().all(|(_, n)| *n != PANICS), "a bug met its event");
        let mut flushed = self.flushed.lock().unwrap();
        flushed
            .entry(key.partition)
            .or_default()
            .extend_from_slice(events);
        Ok(events.last().map(|(offset, _)| offset + 1))
    }

    async fn skip(&self, _: &mut (), key: &PartitionKey, next_offset: i64) -> Result<(), FlushError> {
        self.skips.lock().unwrap().push((key.partition, next_offset));
        Ok(())
    }

    async fn maintain(&self) {}
}

struct Harness {
    kafka: KafkaSettings,
    producer: EventProducer,
    registry: prometheus::Registry,
    pipeline: Recording,
    consumer: ConsumerHandle,
}

impl Harness {
    async fn start() -> Self {
        let mut settings = local_settings();
        isolate(&mut settings).await;
        let registry = new_registry("test").unwrap();
        let producer = EventProducer::new(&settings.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap();
        let pipeline = Recording {
            flushed: Arc::default(),
            stuck: Arc::new(AtomicI32::new(-1)),
            hold: Arc::new(AtomicBool::new(false)),
            skips: Arc::default(),
        };
        let handle = PipelineHandle::start(pipeline.clone(), PipelineMetrics::new(&registry).unwrap());
        let spec = ConsumerSpec::batching(
            &[topics::USER_ACTIONS],
            settings.kafka.consumer_group.clone(),
            handle.recipient(),
            handle.revoke_hook(),
        );
        let consumer = ConsumerHandle::start(
            &settings.kafka,
            spec,
            producer.clone(),
            ConsumerMetrics::new(&registry).unwrap(),
        )
        .unwrap();
        handle.attach(&consumer);
        Self {
            kafka: settings.kafka,
            producer,
            registry,
            pipeline,
            consumer,
        }
    }

    async fn publish(&self, key: &str, payload: serde_json::Value) {
        let event = Envelope::new("user_action", key, payload);
        self.producer.publish(topics::USER_ACTIONS, &event).await.unwrap();
    }

    fn flushed(&self, partition: i32) -> Vec<(i64, i64)> {
        self.pipeline
            .flushed
            .lock()
            .unwrap()
            .get(&partition)
            .cloned()
            .unwrap_or_default()
    }

    fn gauge(&self, name: &str) -> f64 {
        self.registry
            .gather()
            .iter()
            .find(|m| m.name() == name)
            .map_or(0.0, |m| {
                m.get_metric().iter().map(|m| m.get_gauge().get_value()).sum()
            })
    }

    /// Flushes a first event of `key`, then holds that partition's flushes (released with
    /// `hold`); returns the partition.
    async fn hold_partition_of(&self, key: &str) -> i32 {
        self.publish(key, json!({"n": 0})).await;
        eventually("the first event is flushed", WAIT, || async {
            self.pipeline.flushed.lock().unwrap().len() == 1
        })
        .await;
        let partition = *self.pipeline.flushed.lock().unwrap().keys().next().unwrap();
        self.pipeline.stuck.store(partition, Ordering::SeqCst);
        self.pipeline.hold.store(true, Ordering::SeqCst);
        partition
    }

    fn counter(&self, name: &str) -> f64 {
        self.registry
            .gather()
            .iter()
            .find(|m| m.name() == name)
            .map_or(0.0, |m| {
                m.get_metric().iter().map(|m| m.get_counter().get_value()).sum()
            })
    }
}

#[actix_web::test]
async fn a_hanging_partition_is_paused_and_never_holds_up_the_others() {
    let h = Harness::start().await;
    // Find the partition of the key whose flushes will hang.
    h.publish("stuck", json!({"n": 0})).await;
    eventually("the probe is flushed", WAIT, || async {
        h.pipeline.flushed.lock().unwrap().len() == 1
    })
    .await;
    let stuck = *h.pipeline.flushed.lock().unwrap().keys().next().unwrap();
    h.pipeline.stuck.store(stuck, Ordering::SeqCst);
    h.pipeline.hold.store(true, Ordering::SeqCst);

    for n in 1..=40 {
        h.publish("stuck", json!({"n": n})).await;
    }
    // Keys that land elsewhere keep flowing meanwhile.
    for k in 0..30 {
        h.publish(&format!("other-{k}"), json!({"n": 1000 + k})).await;
    }
    let flushed_where = |h: &Harness, on_stuck: bool| {
        h.pipeline
            .flushed
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| (**p == stuck) == on_stuck)
            .map(|(_, events)| events.iter().filter(|(_, n)| *n >= 1000).count())
            .sum::<usize>()
    };
    eventually(
        "the other partitions flush while one hangs and is paused",
        WAIT,
        || async { flushed_where(&h, false) > 0 && h.gauge("aggregator_paused_partitions") == 1.0 },
    )
    .await;
    assert_eq!(h.flushed(stuck), vec![(0, 0)], "the hanging partition flushed");

    h.pipeline.hold.store(false, Ordering::SeqCst);
    eventually("every event is flushed", WAIT, || async {
        let stuck_key = h.flushed(stuck).iter().filter(|(_, n)| *n < 1000).count();
        stuck_key == 41 && flushed_where(&h, true) + flushed_where(&h, false) == 30
    })
    .await;
    assert_eq!(h.gauge("aggregator_paused_partitions"), 0.0, "resumed");
    // Once each, in offset order, without gaps.
    for (partition, events) in h.pipeline.flushed.lock().unwrap().iter() {
        let offsets: Vec<i64> = events.iter().map(|(o, _)| *o).collect();
        let expected: Vec<i64> = (offsets[0]..offsets[0] + offsets.len() as i64).collect();
        assert_eq!(offsets, expected, "partition {partition}");
    }
    let stuck_ns: Vec<i64> = h
        .flushed(stuck)
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| *n < 1000)
        .collect();
    assert_eq!(stuck_ns, (0..=40).collect::<Vec<_>>());
    h.consumer.shutdown().await;
}

#[actix_web::test]
async fn a_dead_lettered_event_never_moves_the_committed_offset_past_unflushed_ones() {
    let h = Harness::start().await;
    // The next event hangs in its flush; one after it is dead-lettered.
    let partition = h.hold_partition_of("k").await;
    h.publish("k", json!({"n": 1})).await;
    let rejected = Envelope::new("user_action", "k", json!({"reject": true}));
    h.producer.publish(topics::USER_ACTIONS, &rejected).await.unwrap();
    let dead = read_messages(&h.kafka, &topics::dead_letter(topics::USER_ACTIONS), 1, WAIT).await;
    // The copy: key, value, the event's headers and where it came from.
    assert_eq!(dead[0].key(), Some(&b"k"[..]));
    let copied: Envelope = serde_json::from_slice(dead[0].payload().unwrap()).unwrap();
    assert_eq!(copied.event_id, rejected.event_id);
    let header = |name: &str| header(&dead[0], name);
    assert_eq!(header("event_id"), rejected.event_id.to_string());
    assert_eq!(header("event_type"), "user_action");
    assert_eq!(header("dlq.reason"), "payload says reject");
    assert_eq!(header("dlq.partition"), partition.to_string());
    assert_eq!(header("dlq.offset"), "2");
    // Several commit intervals: the committed offset stays at the durable event's end (1).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(committed(&h.kafka, partition), Some(1));
    h.pipeline.hold.store(false, Ordering::SeqCst);
    eventually("the hanging event is flushed and committed", WAIT, || async {
        committed(&h.kafka, partition) == Some(2)
    })
    .await;
    h.consumer.shutdown().await;
}

#[actix_web::test]
async fn events_a_store_rejects_are_isolated_and_dead_lettered_and_the_rest_applied() {
    let h = Harness::start().await;
    // Held back so that the poison arrives inside one batch with the others.
    let partition = h.hold_partition_of("k").await;
    let ns: Vec<i64> = (1..=20)
        .map(|n| match n {
            7 => STORE_REJECTS,
            13 => PANICS,
            n => n,
        })
        .collect();
    for n in &ns {
        h.publish("k", json!({"n": n})).await;
    }
    h.publish("k", json!({"n": 0})).await; // after the poison: the offset moves past it
    h.pipeline.hold.store(false, Ordering::SeqCst);
    let dead = read_messages(&h.kafka, &topics::dead_letter(topics::USER_ACTIONS), 2, WAIT).await;
    let reason = |i: usize| header(&dead[i], "dlq.reason");
    let offsets: Vec<String> = dead.iter().map(|m| header(m, "dlq.offset")).collect();
    assert_eq!(offsets, vec!["7", "13"]);
    assert!(reason(0).contains("value out of range"), "{}", reason(0));
    assert!(reason(1).contains("a bug met its event"), "{}", reason(1));
    eventually("every other event is flushed", WAIT, || async {
        h.flushed(partition).len() == 20
    })
    .await;
    let applied: Vec<i64> = h.flushed(partition).iter().map(|(_, n)| *n).collect();
    let expected: Vec<i64> = std::iter::once(0)
        .chain(ns.iter().copied().filter(|n| *n > 0))
        .chain(std::iter::once(0))
        .collect();
    assert_eq!(applied, expected, "each once, in order, without the poison");
    assert_eq!(
        *h.pipeline.skips.lock().unwrap(),
        vec![(partition, 8), (partition, 14)]
    );
    assert_eq!(h.counter("aggregator_dead_lettered_total"), 2.0);
    eventually("the offset moves past the poison", WAIT, || async {
        committed(&h.kafka, partition) == Some(22)
    })
    .await;
    h.consumer.shutdown().await;
}

/// The group's committed offset of a partition, read without joining the group.
fn committed(kafka: &KafkaSettings, partition: i32) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &kafka.consumer_group)
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition(&kafka.topic(topics::USER_ACTIONS), partition);
    let committed = consumer.committed_offsets(list, Duration::from_secs(5)).unwrap();
    match committed.elements()[0].offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}
