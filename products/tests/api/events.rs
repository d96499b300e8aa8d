//! `product_updates`: exactly the expected events, in order, versions increasing; and writes
//! while Kafka is down are delivered later.
use reqwest::Method;
use serde_json::json;
use shared::testing::flaky_kafka;

use crate::helpers::{product, spawn_app, spawn_app_with};

#[actix_web::test]
async fn create_update_delete_publish_these_events_in_order_with_growing_versions() {
    let app = spawn_app().await;
    let id = app.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.patch(&id, Some(1), &json!({"active": false})).await.status(),
        200
    );
    assert_eq!(
        app.patch(&id, Some(2), &json!({"category": "Home"}))
            .await
            .status(),
        200
    );
    let deleted = app
        .request(Method::DELETE, &format!("/products/{id}"), Some(&app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let events = app.product_events(&id, 4).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "product_created",
            "product_updated",
            "product_updated",
            "product_deleted"
        ]
    );
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e.payload["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    assert_eq!(
        events[0].payload["price"],
        json!({"amount": "19.90", "currency": "EUR"})
    );
    assert_eq!(events[1].payload["active"], false);
    assert_eq!(events[2].payload["category"], "Home");
    assert_eq!(events[3].payload, json!({"id": id, "version": 4}));
}

#[actix_web::test]
async fn writes_succeed_while_kafka_is_down_and_their_events_arrive_after() {
    let (proxy, brokers, _serial) = flaky_kafka().await;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = brokers;
        s.kafka.message_timeout_ms = 1_000;
    })
    .await;
    proxy.cut();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.create(&product(&format!("P{i}"), "C")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        app.patch(&ids[0], Some(1), &json!({"stock": 9})).await.status(),
        200
    );
    proxy.restore().await;
    let first = app.product_events(&ids[0], 2).await;
    assert_eq!(
        first.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        vec!["product_created", "product_updated"]
    );
    for id in &ids[1..] {
        assert_eq!(app.product_events(id, 1).await[0].event_type, "product_created");
    }
}
