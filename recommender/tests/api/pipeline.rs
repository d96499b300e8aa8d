//! From events to lists: co-interactions, exclusions, deletions, cold start, duplicates.
use serde_json::{json, Value};
use shared::events::action::ActionKind;
use uuid::Uuid;

use shared::events::{event_types, topics, Envelope};

use crate::helpers::{at, products, spawn_app, WAIT};
use shared::testing::eventually;

#[actix_web::test]
async fn co_interactions_shape_the_next_users_list_with_reasons() {
    let app = spawn_app().await;
    let [a, b, c, d] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for p in [a, b, c, d] {
        app.product(p, "Books", true, 1).await;
    }
    app.wait_for_product(d, "Books").await;
    // Two users go from a to b; one goes from a to c.
    for (i, next) in [b, b, c].into_iter().enumerate() {
        let user = Uuid::now_v7();
        app.action(user, a, ActionKind::View, i as i64 * 10).await;
        app.action(user, next, ActionKind::Purchase, i as i64 * 10 + 1)
            .await;
    }
    // Lists are recomputed for the users a flush touches: let the co-interactions land first.
    app.flush_until("b and c are similar to a", || async {
        app.similar(a).await.as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    let newcomer = Uuid::now_v7();
    app.action(newcomer, a, ActionKind::View, 100).await;
    app.flush_until("the newcomer's list is built from the model", || async {
        let body = app.recommendations(newcomer).await;
        body["items"]
            .as_array()
            .is_some_and(|items| items.first().is_some_and(|i| i["reason"]["type"] == "similar_to"))
    })
    .await;
    let body = app.recommendations(newcomer).await;
    let list = products(&body);
    assert_eq!(list[..2], [b, c], "b (two users) before c (one user): {body}");
    assert_eq!(
        body["items"][0]["reason"],
        json!({"type": "similar_to", "product_id": a})
    );
    assert!(
        !list.contains(&a)
            || body["items"][list.iter().position(|p| *p == a).unwrap()]["reason"]["type"] != "similar_to"
    );
    assert!(body["items"][0]["score"].as_f64().unwrap() > body["items"][1]["score"].as_f64().unwrap());
}

#[actix_web::test]
async fn purchased_products_are_never_recommended_to_the_buyer() {
    let app = spawn_app().await;
    let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
    app.product(a, "Toys", true, 1).await;
    app.product(b, "Toys", true, 1).await;
    app.wait_for_product(b, "Toys").await;
    let other = Uuid::now_v7();
    app.action(other, a, ActionKind::View, 1).await;
    app.action(other, b, ActionKind::View, 2).await;
    let buyer = Uuid::now_v7();
    app.action(buyer, b, ActionKind::Purchase, 3).await;
    app.action(buyer, a, ActionKind::View, 4).await;
    app.flush_until("the buyer's list exists", || async {
        app.recommendations(buyer).await["source"] != "computed"
    })
    .await;
    assert!(!products(&app.recommendations(buyer).await).contains(&b));
}

#[actix_web::test]
async fn a_deleted_or_deactivated_product_disappears_from_every_list() {
    let app = spawn_app().await;
    let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for p in [a, b, c] {
        app.product(p, "Garden", true, 1).await;
    }
    app.wait_for_product(c, "Garden").await;
    let user = Uuid::now_v7();
    app.action(Uuid::now_v7(), a, ActionKind::View, 1).await;
    app.action(user, a, ActionKind::View, 2).await;
    app.flush_until("b and c are listed", || async {
        let list = products(&app.recommendations(user).await);
        list.contains(&b) && list.contains(&c)
    })
    .await;
    app.delete_product(b, 2).await;
    app.product(c, "Garden", false, 2).await;
    crate::helpers::eventually_gone(&app, user, &[b, c]).await;
}

#[actix_web::test]
async fn a_cold_start_user_gets_popular_items_of_their_interests_then_trending() {
    let app = spawn_app().await;
    let [book, toy] = [Uuid::now_v7(), Uuid::now_v7()];
    app.product(book, "Books", true, 1).await;
    app.product(toy, "Toys", true, 1).await;
    app.wait_for_product(toy, "Toys").await;
    // The toy is the most popular product overall.
    app.action(Uuid::now_v7(), toy, ActionKind::Purchase, 1).await;
    app.flush_until("the toy trends", || async {
        let body: serde_json::Value = app
            .get("/recommendations/popular?limit=5")
            .await
            .json()
            .await
            .unwrap();
        body[0]["product_id"] == json!(toy)
    })
    .await;
    let reader = Uuid::now_v7();
    let first = app.recommendations(reader).await;
    assert_eq!(first["source"], "computed");
    // No interests, no history: only trending products (the book has no interactions yet).
    assert_eq!(products(&first), vec![toy]);
    app.profile(reader, &["Books"]).await;
    crate::helpers::eventually_interests(&app, reader).await;
    let body = app.recommendations(reader).await;
    assert_eq!(products(&body), vec![book, toy]);
    assert_eq!(
        body["items"][0]["reason"],
        json!({"type": "popular_in", "category": "Books"})
    );
    assert_eq!(body["items"][1]["reason"], json!({"type": "trending"}));
}

#[actix_web::test]
async fn duplicate_event_ids_change_nothing() {
    let app = spawn_app().await;
    let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
    app.product(a, "Music", true, 1).await;
    app.product(b, "Music", true, 1).await;
    app.wait_for_product(b, "Music").await;
    let user = Uuid::now_v7();
    app.action(user, a, ActionKind::View, 1).await;
    let second = app.action(user, b, ActionKind::View, 2).await;
    app.republish(&second).await;
    app.republish(&second).await;
    let probe = Uuid::now_v7();
    app.action(probe, a, ActionKind::View, 3).await;
    // One user went a → b: C[a][b] = 1 (not 3); N_a = 2 (user and probe), N_b = 1, so
    // sim(a, b) = 1 / 2^alpha. Before the probe is flushed it is 1; double counting would make it
    // 3 / 2^alpha: wait until it settles at or below the expected value, then check it exactly.
    let expected = 1.0 / 2f64.powf(app.settings.recommender.model.alpha);
    let similarity = || async { app.similar(a).await[0]["score"].as_f64() };
    app.flush_until("the counts settle", || async {
        similarity().await.is_some_and(|s| s <= expected + 1e-9)
    })
    .await;
    let score = similarity().await.unwrap();
    assert!(
        (score - expected).abs() < 1e-9,
        "similarity {score}, expected {expected}"
    );
}

/// Repeat reads come from the in-process tier; a flush that changes the list announces it, and
/// the next read has the new list (no stale in-process copy).
#[actix_web::test]
async fn in_process_lists_serve_repeat_reads_and_follow_every_change() {
    let app = spawn_app().await;
    let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for product in [a, b, c] {
        app.product(product, "Toys", true, 1).await;
    }
    app.wait_for_product(c, "Toys").await;
    let (other, user) = (Uuid::now_v7(), Uuid::now_v7());
    app.action(other, a, ActionKind::View, 1).await;
    app.action(other, b, ActionKind::View, 2).await;
    // A flush rebuilds the lists of the users it touches: the pair must be counted before the
    // user acts, or the user's list may be built (once) without it.
    app.flush_until("b is similar to a", || async {
        app.similar(a).await[0]["product_id"] == json!(b)
    })
    .await;
    app.action(user, a, ActionKind::View, 3).await;
    // The flushed list (b similar to a), not the cold-start one (b popular in Toys).
    app.flush_until("the list is stored", || async {
        let body = app.recommendations(user).await;
        body["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["product_id"] == json!(b) && i["reason"]["type"] == "similar_to")
        })
    })
    .await;
    eventually("a read served from memory", WAIT, || async {
        app.recommendations(user).await["source"] == "cache" && app.served("memory").await > 0
    })
    .await;
    // The user buys b: the next flush changes the list, which must not be served stale.
    app.action(user, b, ActionKind::Purchase, 4).await;
    app.flush_until("the purchase leaves the list", || async {
        !products(&app.recommendations(user).await).contains(&b)
    })
    .await;
    for _ in 0..5 {
        assert!(!products(&app.recommendations(user).await).contains(&b));
    }
}

/// The Redis tier alone (in-process tier off): Redis first, then Postgres, which refills Redis.
#[actix_web::test]
async fn reads_go_to_redis_first_then_postgres_and_refill_the_cache() {
    let mut settings = crate::helpers::test_settings().await;
    settings.recommender.local_cache_capacity = 0;
    let app = crate::helpers::spawn_with_settings(settings).await;
    let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
    app.product(a, "Films", true, 1).await;
    app.product(b, "Films", true, 1).await;
    app.wait_for_product(b, "Films").await;
    let user = Uuid::now_v7();
    app.action(Uuid::now_v7(), a, ActionKind::View, 1).await;
    app.action(Uuid::now_v7(), b, ActionKind::View, 2).await;
    app.action(user, a, ActionKind::View, 3).await;
    // A flush writes Postgres, then Redis: the first read is a cache hit.
    app.flush_until("the flush cached the list", || async {
        app.recommendations(user).await["source"] == "cache"
    })
    .await;
    let cached = app.recommendations(user).await;
    // Counted around the deletion only: a read racing an automatic flush (Postgres committed,
    // Redis not written yet) is served from Postgres too, before this point.
    let before = app.served("database").await;
    let redis = shared::redis_store::RedisStore::connect_lazy(&app.settings.common.redis).unwrap();
    let key = redis.key(&format!("list:{user}"));
    let _: () = redis::AsyncCommands::del(&mut redis.connection(), &key)
        .await
        .unwrap();
    let from_db = app.recommendations(user).await;
    assert_eq!(from_db["source"], "database");
    assert_eq!(from_db["items"], cached["items"]);
    assert_eq!(app.recommendations(user).await["source"], "cache");
    assert_eq!(app.served("database").await, before + 1);
}

/// A read that loaded a list from Postgres before a flush (or a deletion) replaced it must not
/// put its older copy back into Redis: the interleaving, played in order.
#[actix_web::test]
async fn an_older_list_never_replaces_a_newer_one_in_redis() {
    use recommender::domain::list::RecommendationList;
    use recommender::repository::cache::ListCache;
    use std::sync::Arc;

    let settings = crate::helpers::test_settings().await;
    let redis = shared::redis_store::RedisStore::connect_lazy(&settings.common.redis).unwrap();
    let metrics =
        recommender::metrics::RecommenderMetrics::new(&shared::metrics::new_registry("recommender").unwrap())
            .unwrap();
    let cache = ListCache::new(redis, 60, 0, metrics);
    let list = |based_on| RecommendationList {
        items: Vec::new(),
        generated_at: chrono::Utc::now(),
        based_on,
    };
    let user = Uuid::now_v7();
    let (older, newer) = (Arc::new(list(1)), list(2));
    // The read loaded `older`; the flush stores `newer`; the read's fill comes last.
    cache.put(&[(user, &newer)]).await;
    cache.fill(user, &older).await;
    let (cached, _) = cache.get(user).await.expect("cached");
    assert_eq!(cached.based_on, 2);
    // The newest computation wins, whichever writes first.
    let later = list(2);
    cache.put(&[(user, &later)]).await;
    assert_eq!(cache.get(user).await.unwrap().0.generated_at, later.generated_at);
    // A deleted user's list is not cached again by a read that started before the deletion.
    cache.forget_user(user).await;
    cache.fill(user, &older).await;
    cache.put(&[(user, &list(3))]).await;
    assert!(cache.get(user).await.is_none());
}

/// The model state lives in memory: each flush stores one delta record, a checkpoint folds
/// them into a snapshot, and restoring (what an instance does at start-up) from the snapshot
/// plus the later records gives the same state as the running instance holds.
#[actix_web::test]
async fn the_state_restored_from_the_snapshot_and_later_deltas_is_the_running_one() {
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    let db = shared::db::connect_lazy(&app.settings.common.database)
        .await
        .unwrap();
    let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for p in [a, b, c] {
        app.product(p, "Tools", true, 1).await;
    }
    app.wait_for_product(c, "Tools").await;
    let first = Uuid::now_v7();
    app.action(first, a, ActionKind::View, 1).await;
    app.action(first, b, ActionKind::View, 2).await;
    app.flush_until("b is similar to a", || async {
        app.similar(a).await.as_array().is_some_and(|s| s.len() == 1)
    })
    .await;
    let written = app
        .replica
        .checkpoint(None, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(written.is_some(), "a snapshot is written");
    let second = Uuid::now_v7();
    app.action(second, a, ActionKind::View, 3).await;
    app.action(second, c, ActionKind::Purchase, 4).await;
    app.flush_until("c is similar to a too", || async {
        app.similar(a).await.as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    sql.to_owned(),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) AS n FROM model_snapshots").await, 1);
    // The records the snapshot covers were pruned (no retention here), later ones stay.
    assert!(count("SELECT count(*) AS n FROM model_deltas").await >= 1);
    let restored = recommender::replication::load(&db, &app.settings.recommender.model)
        .await
        .unwrap();
    assert_eq!(restored.stopped, None);
    let running = app.replica.read().counts();
    assert_eq!(restored.replica.counts(), running);
    assert_eq!(restored.replica.watermarks(), app.replica.read().watermarks());
}

/// A delta record that cannot be decoded stops this instance's replica (it would be wrong from
/// there on): `/ready` answers 503 naming the record, and nothing after it is applied.
#[actix_web::test]
async fn an_undecodable_delta_record_stops_the_replica_and_fails_ready() {
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    let db = shared::db::connect_lazy(&app.settings.common.database)
        .await
        .unwrap();
    db.execute_unprepared(
        "INSERT INTO model_deltas (partition, base_offset, next_offset, pairs, bytes, data) \
         VALUES (99, NULL, 1, 0, 3, '\\x01ffff')",
    )
    .await
    .unwrap();
    let ready = || async {
        let response = app
            .client
            .get(format!("{}/ready", app.address))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    eventually("the replica stops", WAIT, || async { ready().await.0 == 503 }).await;
    let (_, body) = ready().await;
    assert_eq!(body["checks"]["replica"]["status"], "down", "{body}");
    let error = body["checks"]["replica"]["error"].as_str().unwrap();
    assert!(error.contains("partition 99 up to offset 1"), "{error}");
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert_eq!(app.replica.read().watermark(99), None);
}

/// A deleted user's history leaves memory too: an event of theirs still in flight starts a new
/// history instead of bringing the old one back.
#[actix_web::test]
async fn a_deleted_users_sequence_leaves_the_aggregators() {
    let app = spawn_app().await;
    let db = shared::db::connect_lazy(&app.settings.common.database)
        .await
        .unwrap();
    let [a, b, c] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let user = Uuid::now_v7();
    app.action(user, a, ActionKind::View, 1).await;
    app.action(user, b, ActionKind::View, 2).await;
    let stored = || async {
        recommender::repository::sequences::load(&db, &[user])
            .await
            .unwrap()
            .remove(&user)
            .map(|s| s.seen.len())
    };
    app.flush_until("the sequence is stored", || async { stored().await == Some(2) })
        .await;
    app.delete_user(user).await;
    eventually("the sequence is deleted", WAIT, || async {
        stored().await.is_none()
    })
    .await;
    app.action(user, c, ActionKind::View, 3).await;
    app.flush_until("a new sequence is stored", || async { stored().await.is_some() })
        .await;
    assert_eq!(stored().await, Some(1), "the old history came back");
}

#[actix_web::test]
async fn reads_are_answered_from_postgres_while_redis_is_down() {
    let proxy = shared::testing::TcpProxy::start("127.0.0.1:6379").await;
    let url = format!("redis://127.0.0.1:{}", proxy.port());
    let app = crate::helpers::spawn_app_with(move |s| s.redis.url = url.into()).await;
    let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
    app.product(a, "Art", true, 1).await;
    app.product(b, "Art", true, 1).await;
    app.wait_for_product(b, "Art").await;
    let user = Uuid::now_v7();
    app.action(Uuid::now_v7(), a, ActionKind::View, 1).await;
    app.action(Uuid::now_v7(), b, ActionKind::View, 2).await;
    app.action(user, a, ActionKind::View, 3).await;
    app.flush_until("the list is cached", || async {
        app.recommendations(user).await["source"] == "cache"
    })
    .await;
    proxy.cut();
    // Once the instance notices that its invalidation channel is gone, its in-process copies
    // are dropped too: the answer comes from Postgres.
    eventually("an answer from Postgres", WAIT, || async {
        app.recommendations(user).await["source"] == "database"
    })
    .await;
    let body = app.recommendations(user).await;
    assert_eq!(body["source"], "database");
    assert!(products(&body).contains(&b));
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors = metrics
        .lines()
        .find(|l| l.starts_with("recommendation_cache_errors_total"))
        .unwrap_or_default()
        .to_owned();
    assert!(!errors.ends_with(" 0") && !errors.is_empty(), "{errors}");
}

#[actix_web::test]
async fn bad_input_gets_problem_json_and_strangers_get_403() {
    let app = spawn_app().await;
    let user = Uuid::now_v7();
    for (path, status) in [
        (format!("/users/{user}/recommendations?limit=0"), 400),
        (format!("/users/{user}/recommendations?limit=51"), 400),
        (format!("/users/{user}/recommendations?colour=red"), 400),
        ("/users/not-a-uuid/recommendations".to_owned(), 400),
        (format!("/products/{}/similar", Uuid::now_v7()), 404),
        ("/recommendations/popular?limit=-1".to_owned(), 400),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    let stranger = shared::testing::dev_token(Uuid::now_v7(), shared::auth::Role::User);
    let url = format!("{}/api/v1/users/{user}/recommendations", app.address);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(stranger)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let with_key = app
        .client
        .get(&url)
        .header("x-api-key", "local-development-read-key")
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 200);
}

#[actix_web::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let routes = shared::testing::ops::openapi_routes(&app.address).await;
    assert_eq!(
        routes,
        vec![
            "get /api/v1/products/{id}/similar",
            "get /api/v1/recommendations/popular",
            "get /api/v1/users/{id}/recommendations",
        ]
    );
}

#[actix_web::test]
async fn poison_written_straight_to_kafka_is_dead_lettered_and_the_model_stays_sound() {
    let app = spawn_app().await;
    let [a, b, poisoned] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for p in [a, b] {
        app.product(p, "Books", true, 1).await;
    }
    // A category PostgreSQL's jsonb cannot hold (it would end up in every list's reasons).
    let mut bad = app.product_snapshot(poisoned, "Bo\u{0}oks", true, 1);
    bad.name = "\u{1b}[2J".into();
    let event = Envelope::new(event_types::PRODUCT_CREATED, poisoned.to_string(), bad);
    app.producer
        .publish(topics::PRODUCT_UPDATES, &event)
        .await
        .unwrap();
    app.wait_for_product(b, "Books").await;
    let user = Uuid::now_v7();
    app.action(user, a, ActionKind::View, 0).await;
    // Straight to Kafka, bypassing the API: a time whose popularity weight overflows to
    // infinity, and a rating no scale holds.
    let far = app.action_event(
        user,
        a,
        ActionKind::View,
        None,
        "9999-01-01T00:00:00Z".parse().unwrap(),
    );
    app.producer.publish(topics::USER_ACTIONS, &far).await.unwrap();
    let huge = app.action_event(user, a, ActionKind::Rate, Some(1e300), at(1));
    app.producer.publish(topics::USER_ACTIONS, &huge).await.unwrap();
    app.action(user, b, ActionKind::View, 2).await;

    app.flush_until("b is similar to a", || async {
        let similar = app.similar(a).await;
        similar
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0]["product_id"] == json!(b))
    })
    .await;
    let dead = shared::testing::read_messages(
        &app.settings.common.kafka,
        &topics::dead_letter(topics::USER_ACTIONS),
        2,
        WAIT,
    )
    .await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|m| shared::testing::header(m, "dlq.reason"))
        .collect();
    assert!(reasons[0].contains("occurred_at"), "{reasons:?}");
    assert!(reasons[1].contains("rate needs a value"), "{reasons:?}");
    let dead = shared::testing::read_messages(
        &app.settings.common.kafka,
        &topics::dead_letter(topics::PRODUCT_UPDATES),
        1,
        WAIT,
    )
    .await;
    assert!(shared::testing::header(&dead[0], "dlq.reason").contains("control characters"));
    // Popularity stayed finite: every score is a number.
    let popular: Value = app
        .get("/recommendations/popular?category=Books&limit=50")
        .await
        .json()
        .await
        .unwrap();
    let scores: Vec<Option<f64>> = popular
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64())
        .collect();
    assert!(
        !scores.is_empty() && scores.iter().all(|s| s.is_some_and(f64::is_finite)),
        "{popular}"
    );
    assert!(!popular.to_string().contains(&poisoned.to_string()));
}

#[actix_web::test]
async fn one_account_repeating_a_purchase_weighs_as_one_purchase_in_the_rankings() {
    let app = spawn_app().await;
    let [pushed, liked] = [Uuid::now_v7(), Uuid::now_v7()];
    for p in [pushed, liked] {
        app.product(p, "Gadgets", true, 1).await;
    }
    app.wait_for_product(liked, "Gadgets").await;
    // One fresh account buys `pushed` 500 times; two others buy `liked` once each.
    let attacker = Uuid::now_v7();
    for i in 0..500 {
        app.action(attacker, pushed, ActionKind::Purchase, i).await;
    }
    for _ in 0..2 {
        app.action(Uuid::now_v7(), liked, ActionKind::Purchase, 600).await;
    }
    app.flush_until("both are ranked, the two buyers' product first", || async {
        let popular: Value = app
            .get("/recommendations/popular?category=Gadgets&limit=10")
            .await
            .json()
            .await
            .unwrap_or_default();
        let ranked: Vec<Value> = popular
            .as_array()
            .map(|items| items.iter().map(|i| i["product_id"].clone()).collect())
            .unwrap_or_default();
        ranked == vec![json!(liked), json!(pushed)]
    })
    .await;
}
