//! Exactly once across SIGKILL and scale-out: the counts in Postgres after a kill mid-stream and
//! a restart, or with two instances sharing the partitions, equal the counts of the distinct
//! events.
use std::collections::{BTreeMap, HashSet};

use analytics::configuration::{get_configuration, Settings};
use chrono::{TimeDelta, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use secrecy::ExposeSecret;
use shared::events::action::{ActionKind, UserAction};
use shared::events::{topics, Envelope};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};
use shared::testing::{eventually, flushed_offsets, isolate, ServiceProcess};
use uuid::Uuid;

use crate::helpers::WAIT;

async fn settings() -> Settings {
    let mut settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    settings
}

fn start(settings: &Settings) -> ServiceProcess {
    ServiceProcess::start(
        env!("CARGO_BIN_EXE_analytics"),
        &settings.common,
        &[("APP_ANALYTICS__FLUSH_INTERVAL_MS", "200")],
    )
}

/// 12 users, 8 products, mixed kinds over two days.
fn actions(count: usize, start: usize) -> Vec<Envelope<UserAction>> {
    let kinds = [
        ActionKind::View,
        ActionKind::Click,
        ActionKind::View,
        ActionKind::Purchase,
        ActionKind::AddToCart,
    ];
    let base = Utc::now() - TimeDelta::hours(30);
    (start..start + count)
        .map(|i| {
            let user = Uuid::from_u128(0xA000 + ((i * 7 + i / 5) % 12) as u128);
            let product = Uuid::from_u128(0xB000 + ((i * 13 + i / 3) % 8) as u128);
            // Spread over the last 30 hours, never in the future (consumers refuse that).
            let at = base + TimeDelta::minutes(((i - start) * 5 % (30 * 60)) as i64);
            let payload = UserAction {
                user_id: user,
                product_id: product,
                action: kinds[i % kinds.len()],
                value: None,
                occurred_at: at,
            };
            let mut event = Envelope::new("user_action", user.to_string(), payload);
            event.occurred_at = at;
            event
        })
        .collect()
}

/// Per product: (views, purchases, unique users over day buckets summed), and distinct events.
type Counts = (BTreeMap<Uuid, (i64, i64, i64)>, i64);

fn expected(events: &[Envelope<UserAction>]) -> Counts {
    let mut seen = HashSet::new();
    let mut per_product: BTreeMap<Uuid, (i64, i64, i64)> = BTreeMap::new();
    let mut uniques = HashSet::new();
    for e in events.iter().filter(|e| seen.insert(e.event_id)) {
        let entry = per_product.entry(e.payload.product_id).or_default();
        match e.payload.action {
            ActionKind::View => entry.0 += 1,
            ActionKind::Purchase => entry.1 += 1,
            _ => {}
        }
        if uniques.insert((
            e.payload.product_id,
            e.occurred_at.date_naive(),
            e.payload.user_id,
        )) {
            entry.2 += 1;
        }
    }
    (per_product, seen.len() as i64)
}

async fn stored(db: &DatabaseConnection) -> Counts {
    let sql =
        "SELECT product_id, SUM(views)::int8 AS v, SUM(purchases)::int8 AS p, SUM(unique_users)::int8 AS u \
               FROM product_stats WHERE bucket = 'day' GROUP BY product_id";
    let rows = db
        .query_all(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap();
    let per_product = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "product_id").unwrap(),
                (
                    r.try_get("", "v").unwrap(),
                    r.try_get("", "p").unwrap(),
                    r.try_get("", "u").unwrap(),
                ),
            )
        })
        .collect();
    let raw = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*)::int8 AS n FROM raw_events".to_owned(),
        ))
        .await
        .unwrap();
    (per_product, raw.map_or(0, |r| r.try_get("", "n").unwrap()))
}

async fn publish(producer: &EventProducer, events: &[Envelope<UserAction>]) {
    for event in events {
        producer.publish(topics::USER_ACTIONS, event).await.unwrap();
    }
}

async fn prepare() -> (Settings, EventProducer, DatabaseConnection) {
    let settings = settings().await;
    let registry = new_registry("test-producer").unwrap();
    let producer =
        EventProducer::new(&settings.common.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap();
    let db = Database::connect(settings.common.database.url().expose_secret())
        .await
        .unwrap();
    (settings, producer, db)
}

async fn wait_until_flushed(db: &DatabaseConnection, messages: i64) {
    eventually(&format!("{messages} messages flushed"), WAIT, || async {
        flushed_offsets(db).await == messages
    })
    .await;
}

#[actix_web::test]
async fn analytics_killed_mid_stream_and_restarted_counts_every_event_once() {
    let (settings, producer, db) = prepare().await;
    let events = actions(300, 0);
    let first = start(&settings);
    first.wait_ready().await;
    publish(&producer, &events[..150]).await;
    publish(&producer, &events[100..120]).await;
    eventually("some events are flushed", WAIT, || async {
        flushed_offsets(&db).await >= 40
    })
    .await;
    first.kill();
    publish(&producer, &events[150..]).await;
    let second = start(&settings);
    second.wait_ready().await;
    wait_until_flushed(&db, 320).await;
    assert_eq!(stored(&db).await, expected(&events));
}

#[actix_web::test]
async fn two_analytics_instances_count_the_same_as_one() {
    let (settings, producer, db) = prepare().await;
    let events = actions(300, 1000);
    let (a, b) = (start(&settings), start(&settings));
    a.wait_ready().await;
    b.wait_ready().await;
    publish(&producer, &events).await;
    wait_until_flushed(&db, 300).await;
    assert_eq!(stored(&db).await, expected(&events));
}
