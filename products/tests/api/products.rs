//! The catalogue API: creation, reads, lists, batch reads, versioned updates and deletion.
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use shared::testing::TcpProxy;

use crate::helpers::{problem, product, spawn_app, spawn_app_with, spawn_app_with_settings, TestApp, WAIT};

#[actix_web::test]
async fn create_returns_201_with_location_etag_and_the_exact_product() {
    let app = spawn_app().await;
    let body = json!({
        "name": " Desk lamp ", "description": "Warm light", "category": "Lighting", "tags": ["desk", "led", "desk"],
        "price": {"amount": "19.90", "currency": "eur"}, "stock": 12, "attributes": {"colour": "black"}
    });
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/products/{id}"));
    assert_eq!(
        created,
        json!({
            "id": id, "name": "Desk lamp", "description": "Warm light", "category": "Lighting",
            "tags": ["desk", "led"], "price": {"amount": "19.90", "currency": "EUR"}, "stock": 12,
            "active": true, "attributes": {"colour": "black"}, "version": 1,
            "created_at": created["created_at"], "updated_at": created["created_at"]
        })
    );
    let read = app
        .request(Method::GET, &location.replace("/api/v1", ""), None)
        .send()
        .await
        .unwrap();
    assert_eq!(read.headers()["etag"], "\"1\"");
    assert_eq!(read.json::<Value>().await.unwrap(), created);
}

#[actix_web::test]
async fn writes_need_an_admin_and_reads_are_public() {
    let app = spawn_app().await;
    let body = product("Lamp", "Lighting");
    let anonymous = app
        .request(Method::POST, "/products", None)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let user = app
        .request(Method::POST, "/products", Some(&app.user))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 403);
    let id = app.create(&body).await["id"].as_str().unwrap().to_owned();
    let path = format!("/products/{id}");
    for (method, token) in [
        (Method::PATCH, None),
        (Method::PATCH, Some(&app.user)),
        (Method::DELETE, None),
        (Method::DELETE, Some(&app.user)),
    ] {
        let expected = if token.is_some() { 403 } else { 401 };
        let response = app
            .request(method.clone(), &path, token.map(String::as_str))
            .header("if-match", "\"1\"")
            .json(&json!({"name": "X"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{method} with {token:?}");
    }
    assert_eq!(
        app.request(Method::GET, &path, None)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[actix_web::test]
async fn invalid_products_get_422_naming_every_field() {
    let app = spawn_app().await;
    let body = json!({"name": "", "category": "Lighting", "tags": [""], "stock": -1,
                      "price": {"amount": "-3.50", "currency": "euro"}, "attributes": [1]});
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    assert_eq!(
        body["errors"],
        json!([
            {"field": "name", "message": "must not be empty"},
            {"field": "tags", "message": "item 0 must not be empty"},
            {"field": "price.amount", "message": "must not be negative"},
            {"field": "price.currency", "message": "must be an ISO 4217 currency code such as \"EUR\""},
            {"field": "stock", "message": "must be between 0 and 2147483647"},
            {"field": "attributes", "message": "must be a JSON object"}
        ])
    );
    // Terminal escapes in text and attributes nested without bound are refused too.
    let mut deep = json!(1);
    for _ in 0..10 {
        deep = json!([deep]);
    }
    let odd = json!({"name": "A", "category": "B", "description": "clear \u{1b}[2J",
                     "price": {"amount": "1", "currency": "EUR"}, "attributes": {"k": deep}});
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&odd)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let fields: Vec<Value> = problem(response).await["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, vec![json!("description"), json!("attributes")]);
    let float_price = json!({"name": "A", "category": "B", "price": {"amount": 19.9, "currency": "EUR"}});
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&float_price)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await["errors"][0]["field"], "price.amount");
    let unknown =
        json!({"name": "A", "category": "B", "price": {"amount": "1", "currency": "EUR"}, "colour": 1});
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await["errors"][0]["field"], "colour");
}

#[actix_web::test]
async fn unknown_and_malformed_ids_get_404_and_400() {
    let app = spawn_app().await;
    let missing = app
        .request(Method::GET, &format!("/products/{}", Uuid::now_v7()), None)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(problem(missing).await["detail"], "No such product.");
    let malformed = app
        .request(Method::GET, "/products/123", None)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
}

#[actix_web::test]
async fn lists_filter_by_category_tag_and_active_in_a_stable_order() {
    let app = spawn_app().await;
    let mut lamp = product("Lamp", "Lighting");
    lamp["tags"] = json!(["led"]);
    app.create(&lamp).await;
    let mut old_lamp = product("Old lamp", "Lighting");
    old_lamp["active"] = json!(false);
    app.create(&old_lamp).await;
    app.create(&product("Chair", "Furniture")).await;
    let names = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |query: &'static str| app.request(Method::GET, query, None).send();
    assert_eq!(
        names(get("/products").await.unwrap().json().await.unwrap()),
        vec!["Lamp", "Old lamp", "Chair"]
    );
    assert_eq!(
        names(
            get("/products?category=Lighting")
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        ),
        vec!["Lamp", "Old lamp"]
    );
    assert_eq!(
        names(get("/products?tag=led").await.unwrap().json().await.unwrap()),
        vec!["Lamp"]
    );
    assert_eq!(
        names(get("/products?active=true").await.unwrap().json().await.unwrap()),
        vec!["Lamp", "Chair"]
    );
    assert_eq!(
        names(
            get("/products?category=Lighting&active=false")
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        ),
        vec!["Old lamp"]
    );
    assert_eq!(get("/products?active=maybe").await.unwrap().status(), 400);
    assert_eq!(get("/products?colour=red").await.unwrap().status(), 400);
}

#[actix_web::test]
async fn batch_reads_return_products_in_the_order_asked_and_name_the_missing() {
    let app = spawn_app().await;
    let a = app.create(&product("A", "C")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create(&product("B", "C")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ghost = Uuid::now_v7().to_string();
    let response = app
        .request(Method::GET, &format!("/products:batch?ids={b},{ghost},{a}"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let batch: Value = response.json().await.unwrap();
    let ids: Vec<&str> = batch["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![b.as_str(), a.as_str()]);
    assert_eq!(batch["missing"], json!([ghost]));
    let bad = app
        .request(Method::GET, "/products:batch?ids=nope", None)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(bad).await["detail"], "ids: `nope` is not a UUID.");
}

#[actix_web::test]
async fn patch_with_the_current_version_bumps_it_and_a_stale_one_gets_412() {
    let app = spawn_app().await;
    let id = app.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .patch(
            &id,
            Some(1),
            &json!({"price": {"amount": "17.50", "currency": "EUR"}, "stock": 3}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(
        (updated["version"].clone(), updated["price"]["amount"].clone()),
        (json!(2), json!("17.50"))
    );
    assert_eq!(updated["name"], "Lamp");
    let stale = app.patch(&id, Some(1), &json!({"stock": 4})).await;
    assert_eq!(stale.status(), 412);
    assert_eq!(
        problem(stale).await,
        json!({"type": "/problems/version-mismatch", "title": "Precondition Failed", "status": 412,
               "detail": "The product was changed meanwhile; its current version is 2."})
    );
    // The version may also come in the body.
    assert_eq!(
        app.patch(&id, None, &json!({"stock": 5, "version": 2}))
            .await
            .status(),
        200
    );
    let without = app.patch(&id, None, &json!({"stock": 6})).await;
    assert_eq!(without.status(), 428);
    assert_eq!(problem(without).await["type"], "/problems/precondition-required");
}

#[actix_web::test]
async fn of_two_concurrent_patches_with_the_same_version_exactly_one_wins() {
    let app = spawn_app().await;
    let id = app.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for round in 1..=5 {
        let (first, second) = (
            json!({"name": format!("A{round}")}),
            json!({"name": format!("B{round}")}),
        );
        let (a, b) = tokio::join!(
            app.patch(&id, Some(round), &first),
            app.patch(&id, Some(round), &second)
        );
        let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, vec![200, 412], "round {round}");
    }
    let current: Value = app
        .request(Method::GET, &format!("/products/{id}"), None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["version"], 6);
}

#[actix_web::test]
async fn delete_returns_204_then_404_and_honours_if_match() {
    let app = spawn_app().await;
    let id = app.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/products/{id}");
    let stale = app
        .request(Method::DELETE, &path, Some(&app.admin))
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let deleted = app
        .request(Method::DELETE, &path, Some(&app.admin))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.request(Method::GET, &path, None)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.request(Method::DELETE, &path, Some(&app.admin))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[actix_web::test]
async fn remembered_products_show_every_write_made_here_at_once_and_honour_if_none_match() {
    let app = spawn_app().await;
    let id = app.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/products/{id}");
    let get = |etag: Option<&'static str>| {
        let request = app.request(Method::GET, &path, None);
        let request = match etag {
            Some(etag) => request.header("if-none-match", etag),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    // Read twice: the second answer comes from memory and must be the same.
    let first = get(None).await;
    assert_eq!(first.headers()["etag"], "\"1\"");
    assert_eq!(first.headers()["content-type"], "application/json");
    let first: Value = first.json().await.unwrap();
    let second: Value = get(None).await.json().await.unwrap();
    assert_eq!(first, second);
    let not_modified = get(Some("\"1\"")).await;
    assert_eq!(not_modified.status(), 304);
    assert_eq!(not_modified.headers()["etag"], "\"1\"");
    assert_eq!(
        app.patch(&id, Some(1), &json!({"name": "Desk lamp"}))
            .await
            .status(),
        200
    );
    let changed = get(Some("\"1\"")).await;
    assert_eq!(changed.status(), 200, "the old ETag no longer matches");
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["name"].clone(), changed["version"].clone()),
        (json!("Desk lamp"), json!(2))
    );
    assert_eq!(get(Some("W/\"2\", \"9\"")).await.status(), 304);
    let deleted = app
        .request(Method::DELETE, &path, Some(&app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(get(None).await.status(), 404);
}

#[actix_web::test]
async fn a_product_changed_through_another_replica_is_forgotten_by_the_product_feed() {
    let writer = spawn_app().await;
    let common = writer.isolated.clone();
    // An hour of TTL: only the feed can make the reader see the change within the wait.
    let reader = spawn_app_with_settings(move |s| {
        s.common.database = common.database;
        s.common.kafka = common.kafka;
        s.products.read_cache_ttl_ms = 3_600_000;
    })
    .await;
    let id = writer.create(&product("Lamp", "Lighting")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/products/{id}");
    let read = |app: &TestApp| {
        let request = app.request(Method::GET, &path, None);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(read(&reader).await["version"], 1, "now remembered by the reader");
    assert_eq!(
        writer
            .patch(&id, Some(1), &json!({"name": "Desk lamp"}))
            .await
            .status(),
        200
    );
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = read(&reader).await;
        if seen["version"] == 2 {
            assert_eq!(seen["name"], "Desk lamp");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader still serves {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let routes = shared::testing::ops::openapi_routes(&app.address).await;
    assert_eq!(
        routes,
        vec![
            "delete /api/v1/products/{id}",
            "get /api/v1/products",
            "get /api/v1/products/{id}",
            "get /api/v1/products:batch",
            "patch /api/v1/products/{id}",
            "post /api/v1/products",
        ]
    );
}

#[actix_web::test]
async fn writes_and_reads_get_503_while_postgres_is_unreachable_and_recover() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let port = proxy.port();
    let app = spawn_app_with(move |s| s.database.port = port).await;
    proxy.cut();
    let body = product("Lamp", "Lighting");
    let response = app
        .request(Method::POST, "/products", Some(&app.admin))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        problem(response).await["detail"],
        "The database is unavailable; retry later."
    );
    let read = app.request(Method::GET, "/products", None).send().await.unwrap();
    assert_eq!(read.status(), 503);
    proxy.restore().await;
    app.create(&body).await;
}

#[actix_web::test]
async fn ended_sessions_and_deleted_users_lose_their_tokens_here_within_seconds() {
    let app = spawn_app().await;
    let producer = shared::kafka::producer::EventProducer::new(
        &app.kafka,
        shared::metrics::ProducerMetrics::new(&shared::metrics::new_registry("test-producer").unwrap())
            .unwrap(),
    )
    .unwrap();
    let (admin, session, deleted) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let demoted = shared::testing::dev_token_in(admin, shared::auth::Role::Admin, session);
    let gone = shared::testing::dev_token(deleted, shared::auth::Role::Admin);
    for token in [&demoted, &gone] {
        let created = app
            .request(Method::POST, "/products", Some(token))
            .json(&product("Before", "Tests"))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    // What the users service publishes on a demotion (or logout, new password) and a deletion.
    let ended = shared::events::Envelope::new(
        shared::events::event_types::USER_SESSIONS_ENDED,
        admin.to_string(),
        shared::events::user::UserSessionsEnded {
            id: admin,
            session_ids: vec![session],
        },
    );
    producer
        .publish(shared::events::topics::USER_UPDATES, &ended)
        .await
        .unwrap();
    let deletion = shared::events::Envelope::new(
        shared::events::event_types::USER_DELETED,
        deleted.to_string(),
        shared::events::user::UserDeleted { id: deleted },
    );
    producer
        .publish(shared::events::topics::USER_UPDATES, &deletion)
        .await
        .unwrap();
    for token in [&demoted, &gone] {
        shared::testing::eventually("the token is refused", crate::helpers::WAIT, || async {
            let response = app
                .request(Method::POST, "/products", Some(token))
                .json(&product("After", "Tests"))
                .send()
                .await
                .unwrap();
            response.status() == 401
        })
        .await;
    }
    // Other tokens of the same user are untouched.
    let other = shared::testing::dev_token(admin, shared::auth::Role::Admin);
    let created = app
        .request(Method::POST, "/products", Some(&other))
        .json(&product("Other session", "Tests"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}
