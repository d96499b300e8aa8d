//! Action ingestion: validation, publication to `user_actions`, and Kafka outages.
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use shared::events::action::UserAction;
use shared::testing::{flaky_kafka, read_events};
use uuid::Uuid;

use crate::helpers::{problem, spawn_app, spawn_app_with, WAIT};

#[actix_web::test]
async fn one_action_is_published_keyed_by_user_with_the_clients_event_id() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (product, event_id) = (Uuid::now_v7(), Uuid::now_v7());
    let body = json!({"product_id": product, "action": "rate", "value": 4.5,
                      "occurred_at": "2026-01-02T03:04:05Z", "event_id": event_id});
    let response = app
        .request(
            Method::POST,
            &format!("/users/{}/actions", user.id),
            Some(&user.token),
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"accepted": 1, "event_ids": [event_id]})
    );

    let events = read_events(&app.kafka, "user_actions", 1, WAIT).await;
    let event = &events[0];
    assert_eq!(
        (event.event_id, event.event_type.as_str(), event.key.clone()),
        (event_id, "user_action", user.id.to_string())
    );
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    let action: UserAction = event.payload_as().unwrap();
    assert_eq!(
        serde_json::to_value(&action).unwrap(),
        json!({"user_id": user.id, "product_id": product, "action": "rate", "value": 4.5,
               "occurred_at": "2026-01-02T03:04:05Z"})
    );
}

#[actix_web::test]
async fn a_batch_is_accepted_whole_and_lands_in_order() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let product = Uuid::now_v7();
    let batch: Vec<Value> = ["view", "click", "add_to_cart", "purchase"]
        .iter()
        .map(|a| json!({"product_id": product, "action": a}))
        .collect();
    let response = app
        .request(
            Method::POST,
            &format!("/users/{}/actions", user.id),
            Some(&user.token),
            Some(&json!(batch)),
        )
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["accepted"], 4);
    let events = read_events(&app.kafka, "user_actions", 4, WAIT).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| e.payload["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, vec!["view", "click", "add_to_cart", "purchase"]);
    let ids: Vec<Value> = events.iter().map(|e| json!(e.event_id)).collect();
    assert_eq!(json!(ids), accepted["event_ids"]);
}

#[actix_web::test]
async fn an_invalid_batch_is_rejected_whole_and_nothing_of_it_is_published() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}/actions", user.id);
    let product = Uuid::now_v7();
    let batch = json!([
        {"product_id": product, "action": "view"},
        {"product_id": product, "action": "rate", "value": 9},
        {"product_id": "not-a-uuid", "action": "fly"}
    ]);
    let response = app
        .request(Method::POST, &path, Some(&user.token), Some(&batch))
        .await;
    assert_eq!(response.status(), 422);
    let fields: Vec<Value> = problem(response).await["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    // Shape errors stop at an item's first bad field (keys are read in sorted order).
    assert_eq!(fields, vec![json!("[1].value"), json!("[2].action")]);

    // Then one valid action: it must be the first and only message on the topic.
    let marker = Uuid::now_v7();
    let valid = json!({"product_id": product, "action": "click", "event_id": marker});
    assert_eq!(
        app.request(Method::POST, &path, Some(&user.token), Some(&valid))
            .await
            .status(),
        202
    );
    let events = read_events(&app.kafka, "user_actions", 1, WAIT).await;
    assert_eq!(events[0].event_id, marker);
}

#[actix_web::test]
async fn oversized_and_empty_batches_and_unknown_users_are_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}/actions", user.id);
    let one = json!({"product_id": Uuid::now_v7(), "action": "view"});
    let too_many = json!(vec![one.clone(); 501]);
    let response = app
        .request(Method::POST, &path, Some(&user.token), Some(&too_many))
        .await;
    assert_eq!(
        problem(response).await["errors"][0],
        json!({"field": "body", "message": "must hold at most 500 actions"})
    );
    let empty = app
        .request(Method::POST, &path, Some(&user.token), Some(&json!([])))
        .await;
    assert_eq!(empty.status(), 422);
    // Not even an admin posts actions as someone else; the ingest key may, for existing users.
    let admin = app.admin_token().await;
    let other = format!("/users/{}/actions", Uuid::now_v7());
    let as_admin = app.request(Method::POST, &other, Some(&admin), Some(&one)).await;
    assert_eq!(as_admin.status(), 403);
    let unknown = app
        .client
        .post(format!("{}/api/v1{other}", app.address))
        .header("x-api-key", "local-development-ingest-key")
        .json(&one)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[actix_web::test]
async fn an_ingest_key_cannot_post_for_a_user_deleted_after_it_was_remembered() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("{}/api/v1/users/{}/actions", app.address, user.id);
    let one = json!({"product_id": Uuid::now_v7(), "action": "view"});
    let post = || {
        app.client
            .post(&path)
            .header("x-api-key", "local-development-ingest-key")
            .json(&one)
            .send()
    };
    // The first answer comes from the database and is remembered; the second from memory.
    assert_eq!(post().await.unwrap().status(), 202);
    assert_eq!(post().await.unwrap().status(), 202);
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/users/{}", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(post().await.unwrap().status(), 404);
    // Nor with the user's own token, which the deletion revoked.
    let own = app
        .request(
            Method::POST,
            &format!("/users/{}/actions", user.id),
            Some(&user.token),
            Some(&one),
        )
        .await;
    assert_eq!(own.status(), 401);
}

#[actix_web::test]
async fn actions_get_503_while_kafka_is_down_and_202_once_it_is_back() {
    let (proxy, brokers, _serial) = flaky_kafka().await;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = brokers;
        s.kafka.message_timeout_ms = 1_500;
    })
    .await;
    let user = app.new_user().await;
    let path = format!("/users/{}/actions", user.id);
    let body = json!({"product_id": Uuid::now_v7(), "action": "purchase", "event_id": Uuid::now_v7()});
    proxy.cut();
    let response = app
        .request(Method::POST, &path, Some(&user.token), Some(&body))
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        problem(response).await["detail"],
        "Kafka did not acknowledge the actions; none is accepted. Retry with the same event ids."
    );
    proxy.restore().await;
    let mut status = 0;
    // The producer reconnects with backoff; the client retries as the 503 tells it to.
    for _ in 0..30 {
        status = app
            .request(Method::POST, &path, Some(&user.token), Some(&body))
            .await
            .status()
            .as_u16();
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(status, 202);
}

#[actix_web::test]
async fn times_a_store_cannot_hold_are_refused_with_422_not_accepted() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for at in [
        "-5000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-01-01T00:00:00Z",
    ] {
        let body = json!({"product_id": Uuid::now_v7(), "action": "view", "occurred_at": at});
        let response = app
            .request(
                Method::POST,
                &format!("/users/{}/actions", user.id),
                Some(&user.token),
                Some(&body),
            )
            .await;
        assert_eq!(response.status(), 422, "{at}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "occurred_at", "{at}: {problem}");
    }
}
