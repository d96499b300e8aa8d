//! Registration, profile reads, updates, deletion and listing.
use reqwest::Method;
use serde_json::{json, Value};
use shared::testing::TcpProxy;

use crate::helpers::{problem, spawn_app, spawn_app_with, PASSWORD};

#[actix_web::test]
async fn register_returns_201_with_the_user_and_its_location() {
    let app = spawn_app().await;
    let response = app
        .register(&json!({
            "email": "  Ada@Example.COM ", "password": PASSWORD, "display_name": " Ada ",
            "age": 36, "country": "gb", "interests": ["Books", "books", "Garden"]
        }))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/users/{}", body["id"].as_str().unwrap())
    );
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["display_name"], "Ada");
    assert_eq!(body["age"], 36);
    assert_eq!(body["country"], "GB");
    assert_eq!(body["interests"], json!(["Books", "Garden"]));
    assert_eq!(body["role"], "user");
    assert_eq!(body["created_at"], body["updated_at"]);
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
}

#[actix_web::test]
async fn register_returns_409_when_the_normalised_email_is_taken() {
    let app = spawn_app().await;
    let first = app
        .register(&json!({"email": "bob@example.com", "password": PASSWORD, "display_name": "Bob"}))
        .await;
    assert_eq!(first.status(), 201);
    let second = app
        .register(&json!({"email": " BOB@example.com", "password": PASSWORD, "display_name": "B"}))
        .await;
    assert_eq!(second.status(), 409);
    assert_eq!(
        problem(second).await,
        json!({"type": "/problems/email-taken", "title": "Conflict", "status": 409,
               "detail": "An account with this e-mail address already exists."})
    );
}

#[actix_web::test]
async fn register_returns_422_naming_every_invalid_field() {
    let app = spawn_app().await;
    let response = app
        .register(
            &json!({"email": "nope", "password": "short", "display_name": " ", "age": 7, "country": "GBR",
                    "interests": ["Books", "Gar\u{1b}[2Jden"]}),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["email", "password", "display_name", "age", "country", "interests"]
    );
    assert_eq!(body["errors"][1]["message"], "must be at least 10 characters");
}

#[actix_web::test]
async fn malformed_bodies_get_400_413_415_or_422_never_500() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/users", app.address);
    let send = |body: String, content_type: &'static str| {
        let client = app.client.clone();
        let url = url.clone();
        async move {
            client
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send("{\"email\":".into(), "application/json").await.status(), 400);
    assert_eq!(send("{}".into(), "text/plain").await.status(), 415);
    assert_eq!(
        send(
            format!("{{\"email\":\"{}\"}}", "a".repeat(300_000)),
            "application/json"
        )
        .await
        .status(),
        413
    );
    let wrong_type = send(
        r#"{"email":1,"password":"x","display_name":"y"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(wrong_type.status(), 422);
    assert_eq!(problem(wrong_type).await["errors"][0]["field"], "email");
    let unknown = send(
        r#"{"email":"a@b.co","password":"long enough pw","display_name":"y","colour":"red"}"#.into(),
        "application/json",
    )
    .await;
    assert_eq!(problem(unknown).await["errors"][0]["field"], "colour");
    let missing = send(r#"{"email":"a@b.co"}"#.into(), "application/json").await;
    assert_eq!(
        problem(missing).await["errors"][0],
        json!({"field": "password", "message": "missing field `password`"})
    );
}

#[actix_web::test]
async fn get_returns_the_user_to_its_owner_and_admins_and_me_to_the_token_holder() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let admin = app.admin_token().await;
    let own = app
        .request(
            Method::GET,
            &format!("/users/{}", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    let by_admin: Value = app
        .request(Method::GET, &format!("/users/{}", user.id), Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .request(Method::GET, "/users/me", Some(&user.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own, by_admin);
    assert_eq!(own, me);
    assert_eq!(own["email"], user.email.as_str());
}

#[actix_web::test]
async fn unknown_ids_get_404_and_malformed_ids_get_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let missing = app
        .request(
            Method::GET,
            &format!("/users/{}", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        problem(missing).await,
        json!({"type": "/problems/not-found", "title": "Not Found", "status": 404, "detail": "No such user."})
    );
    let malformed = app
        .request(Method::GET, "/users/not-a-uuid", Some(&admin), None)
        .await;
    assert_eq!(malformed.status(), 400);
    assert_eq!(problem(malformed).await["type"], "/problems/bad-request");
}

#[actix_web::test]
async fn patch_changes_only_the_given_fields_and_null_clears() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}", user.id);
    let set = json!({"age": 40, "country": "de", "interests": ["Music"]});
    let response = app
        .request(Method::PATCH, &path, Some(&user.token), Some(&set))
        .await;
    assert_eq!(response.status(), 200);
    let after: Value = response.json().await.unwrap();
    assert_eq!(
        (after["age"].clone(), after["country"].clone()),
        (json!(40), json!("DE"))
    );
    assert_eq!(after["display_name"], "Test");
    let cleared: Value = app
        .request(
            Method::PATCH,
            &path,
            Some(&user.token),
            Some(&json!({"age": null})),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["age"], Value::Null);
    assert_eq!(cleared["country"], "DE");
    assert_eq!(cleared["interests"], json!(["Music"]));
    let invalid = app
        .request(
            Method::PATCH,
            &path,
            Some(&user.token),
            Some(&json!({"age": 500})),
        )
        .await;
    assert_eq!(
        problem(invalid).await["errors"][0],
        json!({"field": "age", "message": "must be between 13 and 120"})
    );
}

#[actix_web::test]
async fn changing_the_password_needs_the_current_one_and_then_only_the_new_one_logs_in() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}", user.id);
    let without = app
        .request(
            Method::PATCH,
            &path,
            Some(&user.token),
            Some(&json!({"password": "a new password"})),
        )
        .await;
    assert_eq!(problem(without).await["errors"][0]["field"], "current_password");
    let change = json!({"password": "a new password", "current_password": PASSWORD});
    assert_eq!(
        app.request(Method::PATCH, &path, Some(&user.token), Some(&change))
            .await
            .status(),
        200
    );
    assert_eq!(app.login(&user.email, PASSWORD).await.status(), 401);
    assert_eq!(app.login(&user.email, "a new password").await.status(), 200);
}

#[actix_web::test]
async fn only_admins_change_roles() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}", user.id);
    let promote = json!({"role": "admin"});
    assert_eq!(
        app.request(Method::PATCH, &path, Some(&user.token), Some(&promote))
            .await
            .status(),
        403
    );
    let admin = app.admin_token().await;
    let promoted: Value = app
        .request(Method::PATCH, &path, Some(&admin), Some(&promote))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(promoted["role"], "admin");
}

#[actix_web::test]
async fn delete_returns_204_then_the_account_is_gone() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}", user.id);
    assert_eq!(
        app.request(Method::DELETE, &path, Some(&user.token), None)
            .await
            .status(),
        204
    );
    // The deleted user's token is refused; to an admin the account is gone.
    assert_eq!(
        app.request(Method::GET, &path, Some(&user.token), None)
            .await
            .status(),
        401
    );
    let admin = app.admin_token().await;
    assert_eq!(
        app.request(Method::GET, &path, Some(&admin), None).await.status(),
        404
    );
    assert_eq!(
        app.request(Method::DELETE, &path, Some(&admin), None)
            .await
            .status(),
        404
    );
    assert_eq!(app.login(&user.email, PASSWORD).await.status(), 401);
}

#[actix_web::test]
async fn admins_page_through_every_user_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.push(app.new_user().await.id.to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/users?limit=2&cursor={c}"),
            None => "/users?limit=2".to_owned(),
        };
        let page: Value = app
            .request(Method::GET, &query, Some(&admin), None)
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // The bootstrapped admin came first.
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[1..], expected[..]);
    let bad = app
        .request(Method::GET, "/users?cursor=!!", Some(&admin), None)
        .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        app.request(Method::GET, "/users?limit=0", Some(&admin), None)
            .await
            .status(),
        400
    );
}

#[actix_web::test]
async fn admins_find_an_account_by_email_and_nobody_else_can() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let user = app.new_user().await;
    let path = format!(
        "/users?email={}",
        user.email.replace('+', "%2B").replace('@', "%40")
    );
    let page: Value = app
        .request(Method::GET, &path, Some(&admin), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], user.id.to_string());
    assert_eq!(page["next_cursor"], Value::Null);
    let none: Value = app
        .request(
            Method::GET,
            "/users?email=nobody%40example.com",
            Some(&admin),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["items"], json!([]));
    let bad = app
        .request(Method::GET, "/users?email=not-an-address", Some(&admin), None)
        .await;
    assert_eq!(bad.status(), 400);
    let own = app.token(&user.email, PASSWORD).await;
    assert_eq!(
        app.request(Method::GET, &path, Some(&own), None).await.status(),
        403
    );
}

#[actix_web::test]
async fn registration_returns_503_while_postgres_is_unreachable_and_recovers() {
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let port = proxy.port();
    let app = spawn_app_with(move |s| s.database.port = port).await;
    proxy.cut();
    let body = json!({"email": "late@example.com", "password": PASSWORD, "display_name": "Late"});
    let response = app.register(&body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        problem(response).await,
        json!({"type": "/problems/service-unavailable", "title": "Service Unavailable", "status": 503,
               "detail": "The database is unavailable; retry later."})
    );
    proxy.restore().await;
    assert_eq!(app.register(&body).await.status(), 201);
}

#[actix_web::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let routes = shared::testing::ops::openapi_routes(&app.address).await;
    assert_eq!(
        routes,
        vec![
            "delete /api/v1/users/{id}",
            "get /api/v1/auth/jwks",
            "get /api/v1/users",
            "get /api/v1/users/me",
            "get /api/v1/users/{id}",
            "patch /api/v1/users/{id}",
            "post /api/v1/auth/login",
            "post /api/v1/auth/logout",
            "post /api/v1/auth/refresh",
            "post /api/v1/users",
            "post /api/v1/users/{id}/actions",
        ]
    );
    let doc: Value = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = &doc["components"]["schemas"]["ActionsBody"]["oneOf"];
    assert_eq!(body[0]["$ref"], "#/components/schemas/ActionRequest");
    assert_eq!(body[1]["type"], "array");
}
