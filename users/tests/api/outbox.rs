//! The transactional outbox: nothing committed is lost when Kafka is down or the relay dies.
use reqwest::Method;
use serde_json::json;
use shared::testing::{eventually, flaky_kafka};
use uuid::Uuid;

use crate::helpers::{spawn_app_with, spawn_with_settings, test_settings, TestApp, PASSWORD, WAIT};

async fn register(app: &TestApp, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..n {
        let email = format!("outage-{i}-{}@example.com", Uuid::now_v7().simple());
        let response = app
            .register(&json!({"email": email, "password": PASSWORD, "display_name": "O"}))
            .await;
        assert_eq!(response.status(), 201, "registration must not depend on Kafka");
        ids.push(
            response.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
    }
    ids
}

fn backlog(metrics: &str) -> i64 {
    metrics
        .lines()
        .find(|l| l.starts_with("outbox_backlog"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

#[actix_web::test]
async fn writes_succeed_while_kafka_is_down_and_every_event_arrives_in_order_after() {
    let (proxy, brokers, _serial) = flaky_kafka().await;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = brokers;
        s.kafka.message_timeout_ms = 1_000;
    })
    .await;
    proxy.cut();
    let ids = register(&app, 4).await;
    let admin = app.admin_token().await;
    for id in &ids[..2] {
        let path = format!("/users/{id}");
        let response = app
            .request(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(&json!({"country": "NL"})),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    eventually("the backlog shows in /metrics", WAIT, || async {
        backlog(&app.metrics().await) >= 6
    })
    .await;

    proxy.restore().await;
    for (i, id) in ids.iter().enumerate() {
        let expected = if i < 2 {
            vec!["user_registered", "user_updated"]
        } else {
            vec!["user_registered"]
        };
        let events = app.user_events(*id, expected.len()).await;
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, expected, "events of user {id}");
    }
    eventually("the backlog drains", WAIT, || async {
        backlog(&app.metrics().await) == 0
    })
    .await;
}

#[actix_web::test]
async fn a_relay_stopped_mid_publish_loses_nothing_once_another_instance_runs() {
    let (proxy, brokers, _serial) = flaky_kafka().await;
    let settings = test_settings().await;
    let mut first_settings = settings.clone();
    first_settings.common.kafka.brokers = brokers;
    first_settings.common.kafka.message_timeout_ms = 1_000;
    let first = spawn_with_settings(first_settings).await;
    proxy.cut();
    let ids = register(&first, 3).await;
    // The relay is retrying against the dead broker: stop it there, like a crash would.
    first.outbox.shutdown().await;

    // A second instance on the same database and the real broker takes over the backlog.
    let second = spawn_with_settings(settings).await;
    for id in ids {
        let events = second.user_events(id, 1).await;
        assert_eq!(events[0].event_type, "user_registered");
    }
}

/// Outbox ids are allocated before commit: a row with a lower id can commit while a batch with
/// higher ids is being published. It must be published in a later batch, not marked sent with
/// the batch (which lost events under concurrent writes until the live replay found it).
#[actix_web::test]
async fn a_row_that_commits_while_a_batch_is_in_flight_is_still_published() {
    use sea_orm::TransactionTrait;
    use secrecy::ExposeSecret;
    use shared::events::{topics, Envelope};

    let (proxy, brokers, _serial) = flaky_kafka().await;
    let app = spawn_app_with(move |s| s.kafka.brokers = brokers).await;
    let db = sea_orm::Database::connect(app.settings.common.database.url().expose_secret())
        .await
        .unwrap();
    // The relay is idle (the bootstrapped admin's event is out) before Kafka goes away.
    shared::testing::read_events_until(&app.kafka, topics::USER_UPDATES, WAIT, |events| {
        !events.is_empty()
    })
    .await;
    proxy.cut();
    // An earlier transaction takes its outbox id and has not committed yet…
    let slow = db.begin().await.unwrap();
    let early = Envelope::new("user_updated", Uuid::now_v7().to_string(), json!({"test": true}));
    shared::outbox::enqueue(&slow, topics::USER_UPDATES, &early)
        .await
        .unwrap();
    // …while a later one commits and wakes the relay, whose batch then waits on Kafka.
    let registered = register(&app, 1).await[0];
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    slow.commit().await.unwrap();
    proxy.restore().await;
    let events = shared::testing::read_events_until(&app.kafka, topics::USER_UPDATES, WAIT, |events| {
        events.iter().any(|e| e.event_id == early.event_id)
            && events.iter().any(|e| e.key == registered.to_string())
    })
    .await;
    assert_eq!(events.iter().filter(|e| e.event_id == early.event_id).count(), 1);
}
