//! Faults with the whole system running, each checked by counting: Kafka taken away during
//! writes, the recommender and analytics SIGKILLed mid-stream and restarted, then scaled out
//! to two instances each, Redis taken away from the readers, one service's Postgres taken away.
//!
//! Every dependency is taken away through a proxy in front of it that only this system uses
//! (Kafka through the broker's FLAKY listener): to the services it looks exactly like the
//! server stopping, while other tests running in parallel keep the real servers.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use sea_orm::Database;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use shared::configuration::KafkaSettings;
use shared::events::action::UserAction;
use shared::events::{topics, Envelope};
use shared::testing::{eventually, flaky_kafka, read_events_until, TcpProxy};
use uuid::Uuid;

use crate::system::{product, register, System, WAIT};

const KINDS: [&str; 5] = ["view", "click", "view", "add_to_cart", "purchase"];

/// What one writer saw: event ids of accepted actions, and how many requests got a 503.
#[derive(Default)]
struct Written {
    accepted: Vec<Uuid>,
    refused: usize,
}

/// Posts single actions for one user until `stop`, as a client would: a 202 means accepted,
/// a 503 means not accepted (Kafka did not acknowledge); anything else fails the test.
async fn write_until(
    stop: Arc<AtomicBool>,
    url: String,
    token: String,
    products: Vec<Uuid>,
    seed: usize,
) -> Written {
    let client = reqwest::Client::new();
    let mut written = Written::default();
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        let product = products[(i * 7 + i / 4) % products.len()];
        let body = json!({"product_id": product, "action": KINDS[i % KINDS.len()]});
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the users service stays up: {e}"));
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        match status {
            202 => written.accepted.extend(
                answer["event_ids"]
                    .as_array()
                    .expect("event ids")
                    .iter()
                    .map(|id| id.as_str().unwrap().parse::<Uuid>().unwrap()),
            ),
            503 => written.refused += 1,
            other => panic!("an action was answered {other}: {answer}"),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    written
}

/// How many messages the logical `topic` holds (sum of its partitions' high watermarks).
fn topic_size(settings: &KafkaSettings, topic: &str) -> i64 {
    let consumer: BaseConsumer = shared::kafka::base_config(settings)
        .create()
        .expect("a metadata consumer");
    (0..settings.partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(&settings.topic(topic), p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .sum()
}

fn count_by<K: std::hash::Hash + Eq>(
    events: &[Envelope<UserAction>],
    key: impl Fn(&UserAction) -> K,
) -> HashMap<K, i64> {
    let mut counts = HashMap::new();
    for event in events {
        *counts.entry(key(&event.payload)).or_insert(0) += 1;
    }
    counts
}

#[actix_web::test]
async fn nothing_accepted_is_lost_through_outages_crashes_and_scale_out() {
    let (kafka, brokers, _serial) = flaky_kafka().await;
    let redis = TcpProxy::start("127.0.0.1:6379").await;
    let products_db = TcpProxy::start("127.0.0.1:5432").await;
    let redis_url = format!("redis://127.0.0.1:{}", redis.port());
    let products_db_port = products_db.port().to_string();
    let mut system = System::start_with(|name, env| {
        env.push(("APP_KAFKA__BROKERS".into(), brokers.clone()));
        match name {
            // A client learns quickly that Kafka is away (the default waits 10 s).
            "users" => env.push(("APP_KAFKA__MESSAGE_TIMEOUT_MS".into(), "3000".into())),
            "products" => env.push(("APP_DATABASE__PORT".into(), products_db_port.clone())),
            _ => env.push(("APP_REDIS__URL".into(), redis_url.clone())),
        }
    })
    .await;
    let admin = system.admin_token().await;
    let mut products = Vec::new();
    for (i, category) in ["Garden", "Garden", "Kitchen", "Kitchen", "Books"]
        .iter()
        .enumerate()
    {
        products.push(product(&system, &admin, &format!("P{i}"), category).await);
    }
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(register(&system, &format!("shopper{i}")).await);
    }

    // Writers run through everything below.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(seed, (user, token))| {
            let url = format!("{}/users/{user}/actions", system.users());
            tokio::spawn(write_until(
                stop.clone(),
                url,
                token.clone(),
                products.clone(),
                seed,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Kafka goes away: actions are refused (503), registrations and catalogue changes are
    // accepted into the services' outboxes and published when Kafka is back.
    kafka.cut();
    tokio::time::sleep(Duration::from_secs(1)).await;
    register(&system, "during-the-outage").await;
    product(&system, &admin, "During the outage", "Books").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    kafka.restore().await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Both consumers die mid-stream without flushing, and come back.
    system.kill("recommender");
    system.kill("analytics");
    tokio::time::sleep(Duration::from_secs(2)).await;
    system.start_instance("recommender").await;
    system.start_instance("analytics").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Scale-out: a second instance of each joins its group and takes half the partitions.
    system.start_instance("recommender").await;
    system.start_instance("analytics").await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    stop.store(true, Ordering::Relaxed);
    let mut accepted = HashSet::new();
    let mut refused = 0;
    for writer in writers {
        let written = writer.await.expect("a writer");
        accepted.extend(written.accepted);
        refused += written.refused;
    }
    assert!(
        refused > 0,
        "Kafka's outage refused no action: it was not an outage"
    );
    assert!(accepted.len() > 100, "only {} actions accepted", accepted.len());

    // What Kafka holds: every accepted action (a refused one may be there too: the client
    // was told "not accepted", a retry would get a new id; the pipelines count what is there).
    let kafka_settings = &system.settings("users").kafka;
    let size = topic_size(kafka_settings, topics::USER_ACTIONS);
    let events: Vec<Envelope<UserAction>> =
        read_events_until(kafka_settings, topics::USER_ACTIONS, WAIT, |e| {
            e.len() as i64 >= size
        })
        .await
        .into_iter()
        .map(|e| serde_json::from_value(serde_json::to_value(e).unwrap()).unwrap())
        .collect();
    let ids: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "an event was published twice");
    let missing: Vec<_> = accepted.difference(&ids).collect();
    assert!(missing.is_empty(), "accepted but not in Kafka: {missing:?}");

    // Analytics counted every event exactly once: totals by kind, views per product, and the
    // registration and catalogue change made during the outage.
    let by_kind = count_by(&events, |a| format!("{:?}", a.action));
    let expected_totals = json!({
        "view": by_kind.get("View").copied().unwrap_or(0),
        "click": by_kind.get("Click").copied().unwrap_or(0),
        "add_to_cart": by_kind.get("AddToCart").copied().unwrap_or(0),
        "purchase": by_kind.get("Purchase").copied().unwrap_or(0),
        "registrations": users.len() + 2,
        "products_created": products.len() + 1,
    });
    let summary_url = format!("{}/analytics/summary?window=24h", system.analytics());
    system
        .until("analytics totals equal what Kafka holds", &summary_url, |s| {
            expected_totals
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &s["totals"][k] == v)
        })
        .await;
    let views = count_by(&events, |a| (a.product_id, format!("{:?}", a.action) == "View"));
    for product in &products {
        let url = format!(
            "{}/analytics/products/{product}?window=24h&bucket=day",
            system.analytics()
        );
        let expected = views.get(&(*product, true)).copied().unwrap_or(0);
        system
            .until(&format!("views of {product}"), &url, |s| {
                let items = s["items"].as_array().cloned().unwrap_or_default();
                items
                    .iter()
                    .map(|i| i["views"].as_i64().unwrap_or(0))
                    .sum::<i64>()
                    == expected
            })
            .await;
    }

    // The recommender's counts equal one batch pass over the same events, each applied once.
    let recommender_settings = recommender::configuration::get_configuration()
        .expect("recommender configuration")
        .recommender;
    let expected = recommender::testing::reference(&recommender_settings, &events);
    let db = Database::connect(system.settings("recommender").database.url().expose_secret())
        .await
        .expect("the recommender's database");
    let deadline = tokio::time::Instant::now() + WAIT;
    let last = loop {
        let stored = recommender::testing::stored(&db).await;
        let difference = recommender::testing::difference(&stored, &expected);
        if difference.is_none() || tokio::time::Instant::now() > deadline {
            break difference;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(last, None, "the recommender's counts after the faults");

    // Redis goes away: reads are still answered, from Postgres; then the cache is used again.
    let (user, _) = &users[0];
    let list_url = format!("{}/users/{user}/recommendations", system.recommender());
    system
        .until("a cached list", &list_url, |l| l["source"] == "cache")
        .await;
    redis.cut();
    // Without Redis the same list comes from Postgres, the summary from Postgres too.
    system
        .until("the list from Postgres", &list_url, |l| l["source"] == "database")
        .await;
    system
        .until("the summary from Postgres", &summary_url, |s| {
            s["source"] != "cache" && s["totals"]["view"] == expected_totals["view"]
        })
        .await;
    redis.restore().await;
    system
        .until("the list is cached again", &list_url, |l| l["source"] == "cache")
        .await;
    system
        .until("the summary is cached again", &summary_url, |s| {
            s["source"] == "cache"
        })
        .await;

    // The products service's Postgres goes away: 503 problem+json, then recovery in place.
    products_db.cut();
    let body = json!({"name": "Without Postgres", "category": "Books", "price": {"amount": "1.00", "currency": "EUR"}});
    let response = system
        .client
        .post(format!("{}/products", system.products()))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503, "{problem}");
    products_db.restore().await;
    let url = format!("{}/products", system.products());
    eventually("products accepts writes again", WAIT, || async {
        system
            .client
            .post(&url)
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status() == 201)
    })
    .await;
}
