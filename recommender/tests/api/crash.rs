//! Exactly once across crashes and scale-out: the state in Postgres (snapshot and delta
//! records) after a SIGKILL mid-stream and a restart, or with two instances sharing the
//! partitions, equals a batch computation over the same events applied once.
use recommender::configuration::Settings;
use recommender::testing::{assert_same, reference, stored};
use sea_orm::{Database, DatabaseConnection};
use secrecy::ExposeSecret;
use shared::events::action::{ActionKind, UserAction};
use shared::events::Envelope;
use shared::testing::{eventually, flushed_offsets, ServiceProcess};
use uuid::Uuid;

use shared::events::topics;
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};

use crate::helpers::{test_settings, WAIT};

fn start(settings: &Settings) -> ServiceProcess {
    ServiceProcess::start(
        env!("CARGO_BIN_EXE_recommender"),
        &settings.common,
        &[
            ("APP_RECOMMENDER__FLUSH_INTERVAL_MS", "200"),
            // Snapshots and pruning mid-stream: restores read a snapshot plus later records,
            // and an instance whose records were pruned before it read them reloads.
            ("APP_RECOMMENDER__SNAPSHOT_INTERVAL_SECONDS", "1"),
            ("APP_RECOMMENDER__DELTA_RETENTION_SECONDS", "0"),
        ],
    )
}

/// A deterministic stream of actions: 12 users, 10 products, mixed kinds and repeats.
fn actions(count: usize, start: usize) -> Vec<Envelope<UserAction>> {
    let users: Vec<Uuid> = (0..12u128).map(|i| Uuid::from_u128(0xA000 + i)).collect();
    let products: Vec<Uuid> = (0..10u128).map(|i| Uuid::from_u128(0xB000 + i)).collect();
    let kinds = [
        ActionKind::View,
        ActionKind::Click,
        ActionKind::View,
        ActionKind::Purchase,
        ActionKind::AddToCart,
    ];
    (start..start + count)
        .map(|i| {
            let user = users[(i * 7 + i / 5) % users.len()];
            let product = products[(i * 13 + i / 3) % products.len()];
            let occurred_at = crate::helpers::at((i / 2) as i64);
            let payload = UserAction {
                user_id: user,
                product_id: product,
                action: kinds[i % kinds.len()],
                value: None,
                occurred_at,
            };
            let mut event = Envelope::new("user_action", user.to_string(), payload);
            event.occurred_at = occurred_at;
            event
        })
        .collect()
}

fn producer(settings: &Settings) -> EventProducer {
    let registry = new_registry("test-producer").unwrap();
    EventProducer::new(&settings.common.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap()
}

async fn publish(producer: &EventProducer, events: &[Envelope<UserAction>]) {
    for event in events {
        producer.publish(topics::USER_ACTIONS, event).await.unwrap();
    }
}

async fn connect(settings: &Settings) -> DatabaseConnection {
    Database::connect(settings.common.database.url().expose_secret())
        .await
        .unwrap()
}

async fn wait_until_flushed(db: &DatabaseConnection, messages: i64) {
    eventually(&format!("{messages} messages are flushed"), WAIT, || async {
        flushed_offsets(db).await == messages
    })
    .await;
}

#[actix_web::test]
async fn a_recommender_killed_mid_stream_and_restarted_ends_with_the_batch_state() {
    let settings = test_settings().await;
    let producer = producer(&settings);
    let events = actions(400, 0);
    let db = connect(&settings).await;
    let first = start(&settings);
    first.wait_ready().await;
    publish(&producer, &events[..200]).await;
    // Duplicates with new offsets (a client retrying with the same event ids).
    publish(&producer, &events[150..170]).await;
    eventually("some events are flushed", WAIT, || async {
        flushed_offsets(&db).await >= 50
    })
    .await;
    first.kill();
    publish(&producer, &events[200..]).await;
    let second = start(&settings);
    second.wait_ready().await;
    wait_until_flushed(&db, 420).await;
    assert_same(&stored(&db).await, &reference(&settings.recommender, &events));
}

#[actix_web::test]
async fn two_instances_in_one_group_end_with_the_same_state_as_one() {
    let settings = test_settings().await;
    let producer = producer(&settings);
    let events = actions(400, 1000);
    let db = connect(&settings).await;
    let (a, b) = (start(&settings), start(&settings));
    a.wait_ready().await;
    b.wait_ready().await;
    publish(&producer, &events).await;
    wait_until_flushed(&db, 400).await;
    assert_same(&stored(&db).await, &reference(&settings.recommender, &events));
    drop((a, b));
}

/// PostgreSQL away during flushes (cut while commits are in flight, so some commits may have
/// happened without their answer): the flushes fail and are retried, and nothing is applied
/// twice, neither in the database nor in the running instance's replica.
#[actix_web::test]
async fn a_postgres_outage_during_flushes_applies_nothing_twice() {
    let proxy = shared::testing::TcpProxy::start("127.0.0.1:5432").await;
    let port = proxy.port();
    let app = crate::helpers::spawn_app_with(move |s| s.database.port = port).await;
    let mut direct = app.settings.clone();
    direct.common.database.port = 5432;
    let db = connect(&direct).await;
    let events = actions(300, 5000);
    publish(&app.producer, &events[..150]).await;
    app.flush_until("the first half is flushed", || async {
        flushed_offsets(&db).await == 150
    })
    .await;
    publish(&app.producer, &events[150..]).await;
    // Duplicates with new offsets, during the outage.
    publish(&app.producer, &events[100..120]).await;
    proxy.cut();
    for _ in 0..3 {
        assert!(
            app.router.flush_all().await.is_err(),
            "a flush succeeded without Postgres"
        );
    }
    proxy.restore().await;
    // The first flushes after the outage may still fail on connections it broke.
    eventually("every message is flushed", WAIT, || async {
        let _ = app.router.flush_all().await;
        flushed_offsets(&db).await == 320
    })
    .await;
    let expected = reference(&app.settings.recommender, &events);
    assert_same(&stored(&db).await, &expected);
    let replica = app.replica.read().clone();
    assert_same(&recommender::testing::state_of(&replica, &db).await, &expected);
}
