//! Actions → exact statistics, whatever the duplicates and redeliveries.
use chrono::{DurationRound, TimeDelta, Utc};
use rdkafka::message::OwnedHeaders;
use serde_json::{json, Value};
use shared::events::action::ActionKind;
use shared::events::topics;
use shared::kafka::producer::RawMessage;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn actions_give_exact_counts_per_product_bucket_and_per_user() {
    let app = spawn_app().await;
    let (product, ann, bob) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let yesterday = now - TimeDelta::days(1);
    app.action(ann, product, ActionKind::View, None, now).await;
    app.action(ann, product, ActionKind::View, None, now).await;
    app.action(bob, product, ActionKind::View, None, now).await;
    app.action(bob, product, ActionKind::Rate, Some(4.0), now).await;
    app.action(ann, product, ActionKind::Rate, Some(2.0), now).await;
    app.action(bob, product, ActionKind::Purchase, None, now).await;
    app.action(bob, Uuid::now_v7(), ActionKind::Click, None, yesterday)
        .await;

    let path = format!("/analytics/products/{product}?window=24h&bucket=day");
    let series = app
        .flush_until(&path, |s| {
            s["items"]
                .as_array()
                .is_some_and(|i| i.iter().map(|b| b["views"].as_i64().unwrap_or(0)).sum::<i64>() == 3)
        })
        .await;
    let today = now.duration_trunc(TimeDelta::days(1)).unwrap();
    let bucket = series["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bucket_start"] == json!(today))
        .unwrap()
        .clone();
    assert_eq!(
        bucket,
        json!({"bucket_start": today, "views": 3, "clicks": 0, "add_to_cart": 0, "purchases": 1, "ratings": 2,
               "rating_average": 3.0, "unique_users": 2, "conversion_rate": 1.0 / 3.0})
    );
    let activity: Value = app
        .flush_until(&format!("/analytics/users/{bob}"), |u| u["clicks"] == 1)
        .await;
    assert_eq!(
        (
            activity["views"].clone(),
            activity["ratings"].clone(),
            activity["purchases"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(activity["active_days"], 2);
    assert_eq!(
        activity["first_activity"].as_str().unwrap()[..10],
        yesterday.to_rfc3339()[..10]
    );
}

#[actix_web::test]
async fn duplicate_event_ids_and_redeliveries_count_once() {
    let app = spawn_app().await;
    let (product, user) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let first = app.action(user, product, ActionKind::View, None, now).await;
    app.action(user, product, ActionKind::View, None, now).await;
    // The same event again, twice (a client retry), then a marker.
    app.producer.publish(topics::USER_ACTIONS, &first).await.unwrap();
    app.producer.publish(topics::USER_ACTIONS, &first).await.unwrap();
    app.action(user, product, ActionKind::Purchase, None, now).await;
    let path = format!("/analytics/products/{product}?window=1h&bucket=hour");
    let series = app.flush_until(&path, |s| s["items"][0]["purchases"] == 1).await;
    assert_eq!(series["items"][0]["views"], 2);
    assert_eq!(series["items"][0]["unique_users"], 1);
}

#[actix_web::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_counting_goes_on() {
    let app = spawn_app().await;
    let (product, user) = (Uuid::now_v7(), Uuid::now_v7());
    let topic = app.settings.common.kafka.topic(topics::USER_ACTIONS);
    let key = user.to_string();
    app.producer
        .send(RawMessage {
            topic: &topic,
            key: Some(key.as_bytes()),
            payload: Some(b"not an event"),
            headers: OwnedHeaders::new(),
        })
        .await
        .unwrap();
    app.action(user, product, ActionKind::View, None, Utc::now())
        .await;
    let path = format!("/analytics/products/{product}?window=1h");
    app.flush_until(&path, |s| s["items"][0]["views"] == 1).await;
    let dead = shared::testing::read_messages(
        &app.settings.common.kafka,
        &topics::dead_letter(topics::USER_ACTIONS),
        1,
        crate::helpers::WAIT,
    )
    .await;
    assert_eq!(rdkafka::Message::payload(&dead[0]), Some(&b"not an event"[..]));
}

#[actix_web::test]
async fn bad_windows_get_400_and_strangers_get_403() {
    let app = spawn_app().await;
    let product = Uuid::now_v7();
    let response = app.get(&format!("/analytics/products/{product}?window=2w")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let user = shared::auth::Authenticator::new(&app.settings.auth)
        .unwrap()
        .issue(Uuid::now_v7(), shared::auth::Role::User)
        .unwrap()
        .0;
    let url = format!("{}/api/v1/analytics/products/{product}", app.address);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&user)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
}
