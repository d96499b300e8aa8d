//! Actions → exact statistics, whatever the duplicates and redeliveries.
use chrono::{DurationRound, TimeDelta, Utc};
use rdkafka::message::OwnedHeaders;
use serde_json::{json, Value};
use shared::events::action::ActionKind;
use shared::events::{event_types, topics, Envelope};
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
    // Every one of the product's six actions counted (users' events come in different
    // partitions, and a flush may take a user's events before the last one arrived).
    let series = app
        .flush_until(&path, |s| {
            let total = |metric: &str| {
                s["items"].as_array().map_or(0, |i| {
                    i.iter().map(|b| b[metric].as_i64().unwrap_or(0)).sum::<i64>()
                })
            };
            (total("views"), total("ratings"), total("purchases")) == (3, 2, 1)
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
    // Bob's latest actions, newest first: the three of today before yesterday's click.
    let client = &app;
    let recent = |limit: u32| {
        let path = format!("/analytics/users/{bob}/events?limit={limit}");
        async move { client.get(&path).await.json::<Value>().await.unwrap() }
    };
    let events = recent(4).await;
    let items = events["items"].as_array().unwrap();
    let mut today: Vec<(&str, &Value)> = items[..3]
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), &e["value"]))
        .collect();
    today.sort_by_key(|(action, _)| *action);
    let null = Value::Null;
    assert_eq!(
        today,
        vec![("purchase", &null), ("rate", &json!(4.0)), ("view", &null)],
        "{events}"
    );
    assert_eq!(items[3]["action"], "click");
    assert_eq!(recent(2).await["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get(&format!("/analytics/users/{bob}/events?limit=0"))
            .await
            .status(),
        400
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
async fn poison_written_straight_to_kafka_is_isolated_and_every_event_around_it_counted() {
    let app = spawn_app().await;
    let (product, user) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    let poison = |occurred_at: &str, extra: Value| {
        let mut payload =
            json!({"user_id": user, "product_id": product, "action": "view", "occurred_at": occurred_at});
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let mut event = Envelope::new(event_types::USER_ACTION, user.to_string(), payload);
        event.occurred_at = occurred_at.parse().unwrap();
        event
    };
    // One key, so one partition and (mostly) one batch: a year PostgreSQL cannot hold (refused
    // when decoded), and a NUL in a field nobody reads, which only jsonb refuses (isolated from
    // its batch when the flush meets it).
    let ancient = poison("-5000-01-01T00:00:00Z", json!({}));
    let nul = poison(&now.to_rfc3339(), json!({"note": "\u{0}"}));
    app.action(user, product, ActionKind::View, None, now).await;
    app.producer
        .publish(topics::USER_ACTIONS, &ancient)
        .await
        .unwrap();
    app.action(user, product, ActionKind::View, None, now).await;
    app.producer.publish(topics::USER_ACTIONS, &nul).await.unwrap();
    app.action(user, product, ActionKind::Purchase, None, now).await;

    let path = format!("/analytics/products/{product}?window=1h&bucket=hour");
    let series = app.flush_until(&path, |s| s["items"][0]["purchases"] == 1).await;
    assert_eq!(
        series["items"][0]["views"], 2,
        "both views around the poison, nothing of it"
    );
    let dead = shared::testing::read_messages(
        &app.settings.common.kafka,
        &topics::dead_letter(topics::USER_ACTIONS),
        2,
        crate::helpers::WAIT,
    )
    .await;
    let mut reasons: Vec<(Uuid, String)> = dead
        .iter()
        .map(|m| {
            let event: Envelope = serde_json::from_slice(rdkafka::Message::payload(m).unwrap()).unwrap();
            (event.event_id, shared::testing::header(m, "dlq.reason"))
        })
        .collect();
    reasons.sort_by_key(|(id, _)| *id != ancient.event_id);
    assert_eq!(reasons[0].0, ancient.event_id);
    assert!(reasons[0].1.contains("occurred_at"), "{}", reasons[0].1);
    assert_eq!(reasons[1].0, nul.event_id);
    assert!(reasons[1].1.contains("rejected by a store"), "{}", reasons[1].1);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    let dead_lettered: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("aggregator_dead_lettered_total{") && l.contains(r#"topic="user_actions""#))
        .collect();
    assert_eq!(dead_lettered.len(), 1, "{metrics}");
    assert!(dead_lettered[0].ends_with(" 1"), "{}", dead_lettered[0]);
}

#[actix_web::test]
async fn bad_windows_get_400_and_strangers_get_403() {
    let app = spawn_app().await;
    let product = Uuid::now_v7();
    for path in [
        format!("/analytics/products/{product}?window=2w"),
        "/analytics/products/top?metric=revenue".to_owned(),
        "/analytics/products/top?limit=0".to_owned(),
        "/analytics/summary?window=1y".to_owned(),
        "/analytics/users/not-a-uuid".to_owned(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let user = shared::testing::dev_token(Uuid::now_v7(), shared::auth::Role::User);
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

async fn publish_product(app: &crate::helpers::TestApp, id: Uuid, category: &str) {
    use shared::events::product::{Price, ProductSnapshot};
    let snapshot = ProductSnapshot {
        id,
        name: "P".into(),
        description: String::new(),
        category: category.into(),
        tags: vec![],
        price: Price {
            amount: "1".into(),
            currency: "EUR".into(),
        },
        stock: 1,
        active: true,
        attributes: json!({}),
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    let event = shared::events::Envelope::new("product_created", id.to_string(), snapshot);
    app.producer
        .publish(topics::PRODUCT_UPDATES, &event)
        .await
        .unwrap();
}

#[actix_web::test]
async fn rankings_and_summary_reflect_exact_counts_and_are_cached_until_the_next_flush() {
    let app = spawn_app().await;
    let (book, toy, user, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    publish_product(&app, book, "Books").await;
    publish_product(&app, toy, "Toys").await;
    let now = Utc::now();
    for _ in 0..3 {
        app.action(user, book, ActionKind::View, None, now).await;
    }
    app.action(other, toy, ActionKind::View, None, now).await;
    app.action(other, toy, ActionKind::Purchase, None, now).await;
    let profile = json!({"id": other, "display_name": "O", "age": null, "country": null, "interests": [],
                         "role": "user", "created_at": now, "updated_at": now});
    let registration = shared::events::Envelope::new("user_registered", other.to_string(), profile);
    app.producer
        .publish(topics::USER_UPDATES, &registration)
        .await
        .unwrap();

    let summary = app
        .flush_until("/analytics/summary?window=24h", |s| {
            s["totals"]["view"] == 4
                && s["totals"]["purchase"] == 1
                && s["totals"]["registrations"] == 1
                && s["totals"]["products_created"] == 2
        })
        .await;
    assert_eq!(summary["source"], "database");
    assert_eq!(
        (
            summary["daily_active_users"].clone(),
            summary["weekly_active_users"].clone()
        ),
        (json!(2), json!(2))
    );
    assert_eq!(summary["top_categories"][0]["category"], "Books");
    assert_eq!(summary["totals"]["purchase"], 1);
    assert_eq!(
        summary["all_time"],
        json!({"users": 1, "products": 2, "actions": 5})
    );

    let top: Value = app
        .get("/analytics/products/top?metric=views&window=24h")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![book.to_string(), toy.to_string()]);
    let conversion: Value = app
        .get("/analytics/products/top?metric=conversion")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(conversion["items"][0]["product_id"], json!(toy.to_string()));
    assert_eq!(conversion["items"][0]["value"], 1.0);
    let toys: Value = app
        .get("/analytics/categories/top?metric=purchases")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        toys["items"][0],
        json!({"category": "Toys", "value": 1.0, "views": 1, "clicks": 0, "add_to_cart": 0, "purchases": 1, "ratings": 0})
    );

    // A repeat read is a cache hit; a flush with new events invalidates it.
    let again: Value = app
        .get("/analytics/summary?window=24h")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["source"], "cache");
    // The same question spelled differently is the same cache entry (keys come from the parsed
    // parameters, not the URI).
    let encoded: Value = app
        .get("/analytics/summary?%77indow=%32%34h")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(encoded["source"], "cache", "{encoded}");
    app.action(user, toy, ActionKind::View, None, now).await;
    let fresh = app
        .flush_until("/analytics/summary?window=24h", |s| s["totals"]["view"] == 5)
        .await;
    assert_eq!(fresh["source"], "database");
}

#[actix_web::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    assert_eq!(
        shared::testing::ops::openapi_routes(&app.address).await,
        vec![
            "get /api/v1/analytics/categories/top",
            "get /api/v1/analytics/products/top",
            "get /api/v1/analytics/products/{id}",
            "get /api/v1/analytics/summary",
            "get /api/v1/analytics/users/{id}",
            "get /api/v1/analytics/users/{id}/events",
        ]
    );
}

#[actix_web::test]
async fn windowed_user_activity_counts_only_the_window() {
    let app = spawn_app().await;
    let (user, product) = (Uuid::now_v7(), Uuid::now_v7());
    let now = Utc::now();
    app.action(user, product, ActionKind::View, None, now - TimeDelta::days(3))
        .await;
    app.action(user, product, ActionKind::View, None, now).await;
    app.action(user, product, ActionKind::Purchase, None, now).await;
    let all = app
        .flush_until(&format!("/analytics/users/{user}"), |u| u["purchases"] == 1)
        .await;
    assert_eq!(
        (all["views"].clone(), all["active_days"].clone()),
        (json!(2), json!(2))
    );
    let day: Value = app
        .get(&format!("/analytics/users/{user}?window=24h"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            day["views"].clone(),
            day["purchases"].clone(),
            day["active_days"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
}

#[actix_web::test]
async fn answers_come_from_postgres_while_redis_is_down() {
    let proxy = shared::testing::TcpProxy::start("127.0.0.1:6379").await;
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let app = crate::helpers::spawn_app_with(move |s| s.redis.url = url.into()).await;
    let (user, product) = (Uuid::now_v7(), Uuid::now_v7());
    app.action(user, product, ActionKind::View, None, Utc::now())
        .await;
    let path = format!("/analytics/products/{product}?window=1h");
    app.flush_until(&path, |s| s["items"][0]["views"] == 1).await;
    proxy.cut();
    let response = app.get(&path).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["source"].clone(), body["items"][0]["views"].clone()),
        (json!("database"), json!(1))
    );
}

/// Hourly maintenance deletes what no window reaches (minute and hour buckets, unique-user rows)
/// past the retention, never less than 31 days, and keeps day buckets for long-term reports.
#[actix_web::test]
async fn buckets_no_window_reaches_are_pruned_and_day_buckets_stay() {
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    let db = shared::db::connect_lazy(&app.settings.common.database)
        .await
        .unwrap();
    let (product, user) = (Uuid::now_v7(), Uuid::now_v7());
    for (bucket, age) in [
        ("minute", 40),
        ("hour", 40),
        ("day", 40),
        ("minute", 2),
        ("hour", 2),
        ("day", 2),
    ] {
        let start = format!("date_trunc('day', now()) - interval '{age} days'");
        for sql in [
            format!("INSERT INTO product_stats (product_id, bucket, bucket_start) VALUES ('{product}', '{bucket}', {start})"),
            format!("INSERT INTO product_bucket_users VALUES ('{product}', '{bucket}', {start}, '{user}')"),
            format!("INSERT INTO global_stats (bucket, bucket_start, metric, value) VALUES ('{bucket}', {start}, 'views', 1)"),
        ] {
            db.execute_unprepared(&sql).await.unwrap();
        }
    }
    // A retention below the longest window is raised to 31 days.
    let deleted = analytics::repository::retention::prune_buckets(&db, 1)
        .await
        .unwrap();
    assert_eq!(deleted, 7);
    let left = |table: &'static str| {
        let db = db.clone();
        async move {
            let sql = format!(
                "SELECT bucket || ':' || (bucket_start < now() - interval '31 days')::text AS b FROM {table} ORDER BY 1"
            );
            let rows = db
                .query_all(sea_orm::Statement::from_string(db.get_database_backend(), sql))
                .await
                .unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "b").unwrap())
                .collect::<Vec<_>>()
        }
    };
    let recent = ["day:false", "hour:false", "minute:false"];
    assert_eq!(left("product_bucket_users").await, recent);
    let with_old_day = ["day:false", "day:true", "hour:false", "minute:false"];
    assert_eq!(left("product_stats").await, with_old_day);
    assert_eq!(left("global_stats").await, with_old_day);
}
