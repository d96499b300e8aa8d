//! The shared Kafka producer and consumer actor against the real broker.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use rdkafka::message::{Headers, OwnedHeaders};
use rdkafka::Message as _;
use serde_json::json;
use shared::configuration::KafkaSettings;
use shared::events::{topics, Envelope};
use shared::kafka::consumer::{ConsumedEvent, ConsumerHandle, ConsumerSpec, HandleError, HandleEvent};
use shared::kafka::producer::{EventProducer, RawMessage};
use shared::metrics::{new_registry, ConsumerMetrics, ProducerMetrics};
use shared::testing::{eventually, isolate, local_settings, read_messages};
use tokio::sync::Mutex;

const WAIT: Duration = Duration::from_secs(30);

/// Records every event it applies. While `failing` is set it reports a transient failure;
/// payloads with `"reject": true` are rejected as permanently invalid.
struct Recorder {
    seen: Arc<Mutex<Vec<ConsumedEvent>>>,
    attempts: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<HandleEvent> for Recorder {
    type Result = ResponseFuture<Result<(), HandleError>>;

    fn handle(&mut self, HandleEvent(event): HandleEvent, _: &mut Context<Self>) -> Self::Result {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let seen = self.seen.clone();
        let failing = self.failing.load(Ordering::SeqCst);
        Box::pin(async move {
            if failing {
                return Err(HandleError::Transient(anyhow::anyhow!("database is down")));
            }
            if event.envelope.payload["reject"] == json!(true) {
                return Err(HandleError::Rejected("payload says reject".into()));
            }
            seen.lock().await.push((*event).clone());
            Ok(())
        })
    }
}

struct Harness {
    kafka: KafkaSettings,
    producer: EventProducer,
    registry: prometheus::Registry,
    consumer_metrics: ConsumerMetrics,
}

impl Harness {
    async fn new() -> Self {
        let mut settings = local_settings();
        isolate(&mut settings).await;
        let registry = new_registry("test").unwrap();
        let producer = EventProducer::new(&settings.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap();
        let consumer_metrics = ConsumerMetrics::new(&registry).unwrap();
        Self {
            kafka: settings.kafka,
            producer,
            registry,
            consumer_metrics,
        }
    }

    fn consumer(&self, failing: bool) -> (ConsumerHandle, Arc<Mutex<Vec<ConsumedEvent>>>, Arc<AtomicUsize>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicUsize::new(0));
        let recorder = Recorder {
            seen: seen.clone(),
            attempts: attempts.clone(),
            failing: Arc::new(AtomicBool::new(failing)),
        }
        .start();
        let spec = ConsumerSpec::new(
            &[topics::USER_ACTIONS],
            self.kafka.consumer_group.clone(),
            recorder.recipient(),
        );
        let handle = ConsumerHandle::start(
            &self.kafka,
            spec,
            self.producer.clone(),
            self.consumer_metrics.clone(),
        )
        .unwrap();
        (handle, seen, attempts)
    }

    async fn publish(&self, key: &str, payload: serde_json::Value) -> Envelope {
        let event = Envelope::new("user_action", key, payload);
        self.producer.publish(topics::USER_ACTIONS, &event).await.unwrap();
        event
    }
}

async fn count(seen: &Mutex<Vec<ConsumedEvent>>) -> usize {
    seen.lock().await.len()
}

#[actix_web::test]
async fn published_event_reaches_the_handler_with_the_same_envelope() {
    let h = Harness::new().await;
    let (consumer, seen, _) = h.consumer(false);
    let sent = h
        .publish("user-1", json!({"product_id": "p-9", "action": "view"}))
        .await;

    eventually("the event is handled", WAIT, || async { count(&seen).await == 1 }).await;
    let received = seen.lock().await[0].clone();
    assert_eq!(
        received.envelope,
        serde_json::from_value(serde_json::to_value(&sent).unwrap()).unwrap()
    );
    assert_eq!(received.topic, topics::USER_ACTIONS);
    let gathered = h.registry.gather();
    let handled = gathered
        .iter()
        .find(|m| m.name() == "kafka_consumed_total")
        .expect("consumed metric");
    assert_eq!(handled.get_metric()[0].get_counter().get_value(), 1.0);
    eventually("consumer lag is exported", WAIT, || async {
        h.registry
            .gather()
            .iter()
            .any(|m| m.name() == "kafka_consumer_lag")
    })
    .await;
    consumer.shutdown().await;
}

#[actix_web::test]
async fn handler_failure_does_not_advance_the_offset() {
    let h = Harness::new().await;
    // Same key: same partition, so the order is e0 then e1.
    let (first, seen, _) = h.consumer(false);
    let e0 = h.publish("user-1", json!({"n": 0})).await;
    eventually("e0 is handled", WAIT, || async { count(&seen).await == 1 }).await;
    first.shutdown().await;

    let (failing, _, attempts) = h.consumer(true);
    let e1 = h.publish("user-1", json!({"n": 1})).await;
    eventually("e1 is attempted and fails twice", WAIT, || async {
        attempts.load(Ordering::SeqCst) >= 2
    })
    .await;
    failing.shutdown().await;

    let (healthy, seen, _) = h.consumer(false);
    eventually("e1 is redelivered", WAIT, || async { count(&seen).await >= 1 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids: Vec<_> = seen.lock().await.iter().map(|e| e.envelope.event_id).collect();
    assert_eq!(
        ids,
        vec![e1.event_id],
        "e0 ({}) was committed and must not come back",
        e0.event_id
    );
    healthy.shutdown().await;
}

#[actix_web::test]
async fn a_consumer_that_stopped_fetching_hands_over_nothing_more_and_still_commits() {
    let h = Harness::new().await;
    let (first, seen, _) = h.consumer(false);
    let e0 = h.publish("user-1", json!({"n": 0})).await;
    eventually("e0 is handled", WAIT, || async { count(&seen).await == 1 }).await;
    // A final flush would run here: nothing may arrive after it.
    first.stop_fetching().await;
    let e1 = h.publish("user-1", json!({"n": 1})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let handled: Vec<_> = seen.lock().await.iter().map(|e| e.envelope.event_id).collect();
    assert_eq!(
        handled,
        vec![e0.event_id],
        "nothing handed over after stop_fetching"
    );
    first.shutdown().await;

    let (next, seen, _) = h.consumer(false);
    eventually("e1 goes to the next member", WAIT, || async {
        count(&seen).await >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let handled: Vec<_> = seen.lock().await.iter().map(|e| e.envelope.event_id).collect();
    assert_eq!(handled, vec![e1.event_id], "e0 was committed by the shutdown");
    next.shutdown().await;
}

#[actix_web::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_consumption_goes_on() {
    let h = Harness::new().await;
    let (consumer, seen, _) = h.consumer(false);
    let topic = h.kafka.topic(topics::USER_ACTIONS);
    h.producer
        .send(RawMessage {
            topic: &topic,
            key: Some(b"user-1"),
            payload: Some(b"{not json"),
            headers: OwnedHeaders::new(),
        })
        .await
        .unwrap();
    let rejected = h.publish("user-1", json!({"reject": true})).await;
    let good = h.publish("user-1", json!({"n": 2})).await;

    eventually("the good event is handled", WAIT, || async {
        count(&seen).await == 1
    })
    .await;
    assert_eq!(seen.lock().await[0].envelope.event_id, good.event_id);

    let dead = read_messages(&h.kafka, &topics::dead_letter(topics::USER_ACTIONS), 2, WAIT).await;
    assert_eq!(dead[0].payload(), Some(&b"{not json"[..]));
    assert_eq!(dead[0].key(), Some(&b"user-1"[..]));
    let reason = |i: usize| -> String {
        let headers = dead[i].headers().unwrap();
        let header = headers
            .iter()
            .find(|h| h.key == "dlq.reason")
            .expect("a dlq.reason header");
        String::from_utf8(header.value.unwrap().to_vec()).unwrap()
    };
    assert!(
        reason(0).starts_with("payload is not a valid event envelope"),
        "{}",
        reason(0)
    );
    assert_eq!(reason(1), "payload says reject");
    let second: Envelope = serde_json::from_slice(dead[1].payload().unwrap()).unwrap();
    assert_eq!(second.event_id, rejected.event_id);
    consumer.shutdown().await;
}

#[actix_web::test]
async fn two_consumers_in_one_group_split_the_partitions() {
    let h = Harness::new().await;
    let (a, seen_a, _) = h.consumer(false);
    let (b, seen_b, _) = h.consumer(false);
    eventually("both members own partitions", WAIT, || async {
        let (pa, pb) = (a.assignment().await, b.assignment().await);
        !pa.is_empty() && !pb.is_empty() && pa.len() + pb.len() == 3
    })
    .await;
    let (pa, pb) = (a.assignment().await, b.assignment().await);
    assert!(
        pa.iter().all(|p| !pb.contains(p)),
        "assignments overlap: {pa:?} {pb:?}"
    );

    let mut sent = Vec::new();
    for i in 0..30 {
        sent.push(h.publish(&format!("user-{i}"), json!({"n": i})).await.event_id);
    }
    eventually("all 30 events are handled", WAIT, || async {
        count(&seen_a).await + count(&seen_b).await == 30
    })
    .await;
    let (got_a, got_b) = (seen_a.lock().await.clone(), seen_b.lock().await.clone());
    assert!(!got_a.is_empty() && !got_b.is_empty(), "one member got nothing");
    let owned = |events: &[ConsumedEvent], assignment: &[(String, i32)]| {
        events
            .iter()
            .all(|e| assignment.iter().any(|(_, p)| *p == e.partition))
    };
    assert!(
        owned(&got_a, &pa) && owned(&got_b, &pb),
        "an event was handled outside its owner's partitions"
    );
    let mut ids: Vec<_> = got_a.iter().chain(&got_b).map(|e| e.envelope.event_id).collect();
    ids.sort();
    sent.sort();
    assert_eq!(ids, sent, "every event exactly once");
    a.shutdown().await;
    b.shutdown().await;
}
