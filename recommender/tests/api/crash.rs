//! Exactly once across crashes and scale-out: the state in Postgres after a SIGKILL mid-stream
//! and a restart, or with two instances sharing the partitions, equals a batch computation over
//! the same events applied once.
use std::collections::HashMap;

use recommender::configuration::Settings;
use recommender::model::aggregator::Aggregator;
use recommender::model::sequence::Interaction;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
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
        &[("APP_RECOMMENDER__FLUSH_INTERVAL_MS", "200")],
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

/// `N` per product and `C` per product pair, as the batch reference computes them.
type State = (HashMap<Uuid, f64>, HashMap<(Uuid, Uuid), f64>);

fn reference(settings: &Settings, events: &[Envelope<UserAction>]) -> State {
    let recommender = &settings.recommender;
    let mut aggregator = Aggregator::new(recommender.model.clone());
    let mut items: HashMap<Uuid, u32> = HashMap::new();
    let mut products: Vec<Uuid> = Vec::new();
    for event in events {
        let a = &event.payload;
        let next = items.len() as u32;
        let item = *items.entry(a.product_id).or_insert_with(|| {
            products.push(a.product_id);
            next
        });
        let interaction = Interaction {
            item,
            time: a.occurred_at.timestamp_millis(),
            strength: recommender.weights.of(a.action, a.value),
            exclude: recommender.excludes(a.action),
        };
        aggregator.observe(a.user_id, interaction);
    }
    let (counts, _) = aggregator.take();
    let n = counts
        .items
        .iter()
        .map(|(&i, &n)| (products[i as usize], n))
        .collect();
    let c = counts
        .pairs
        .iter()
        .map(|(&key, &w)| {
            let (from, to) = recommender::model::score::pair_of(key);
            ((products[from as usize], products[to as usize]), w)
        })
        .collect();
    (n, c)
}

async fn stored(db: &DatabaseConnection) -> State {
    let query = |sql: &str| {
        db.query_all(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql.to_owned(),
        ))
    };
    let mut product_of = HashMap::new();
    for row in query("SELECT product_id, item FROM product_items").await.unwrap() {
        product_of.insert(
            row.try_get::<i32>("", "item").unwrap(),
            row.try_get::<Uuid>("", "product_id").unwrap(),
        );
    }
    let mut n = HashMap::new();
    for row in query("SELECT item, users FROM item_counts WHERE users > 0")
        .await
        .unwrap()
    {
        n.insert(
            product_of[&row.try_get::<i32>("", "item").unwrap()],
            row.try_get::<f64>("", "users").unwrap(),
        );
    }
    let mut c = HashMap::new();
    for row in query("SELECT from_item, to_item, weight FROM co_counts")
        .await
        .unwrap()
    {
        let from = product_of[&row.try_get::<i32>("", "from_item").unwrap()];
        let to = product_of[&row.try_get::<i32>("", "to_item").unwrap()];
        c.insert((from, to), row.try_get::<f64>("", "weight").unwrap());
    }
    (n, c)
}

fn assert_same(actual: &State, expected: &State) {
    assert_eq!(actual.0.len(), expected.0.len(), "item counts");
    for (product, n) in &expected.0 {
        assert_eq!(actual.0.get(product), Some(n), "N of {product}");
    }
    assert_eq!(actual.1.len(), expected.1.len(), "pair counts");
    for (pair, w) in &expected.1 {
        let got = actual.1.get(pair).copied().unwrap_or(f64::NAN);
        assert!(
            (got - w).abs() < 1e-9 * w.abs().max(1.0),
            "C{pair:?}: {got} != {w}"
        );
    }
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
    assert_same(&stored(&db).await, &reference(&settings, &events));
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
    assert_same(&stored(&db).await, &reference(&settings, &events));
    drop((a, b));
}
