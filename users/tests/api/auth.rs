//! Login, tokens, sessions, service keys and the authorisation matrix — each attack of issue 13
//! on accounts and tokens as a black-box test.
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};
use shared::auth::{AuthSettings, Authenticator, Role};
use uuid::Uuid;

use crate::helpers::{problem, spawn_app, TestApp, PASSWORD};

const INGEST_KEY: &str = "local-development-ingest-key";
const READ_KEY: &str = "local-development-read-key";

/// Logs in; the token answer.
async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let response = app.login(email, password).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn status(app: &TestApp, method: Method, path: &str, token: &str, body: Option<&Value>) -> u16 {
    app.request(method, path, Some(token), body)
        .await
        .status()
        .as_u16()
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/refresh", app.address))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn login_returns_a_short_lived_access_token_and_a_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let body = login(&app, &format!("  {}", user.email.to_uppercase()), PASSWORD).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 43));
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(status(&app, Method::GET, "/users/me", token, None).await, 200);
}

#[actix_web::test]
async fn login_gives_the_same_401_for_an_unknown_email_and_a_wrong_password() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let wrong_password = problem(app.login(&user.email, "not the password").await).await;
    let unknown_email = problem(app.login("nobody@example.com", PASSWORD).await).await;
    let not_an_email = problem(app.login("nobody", PASSWORD).await).await;
    let expected = json!({"type": "/problems/invalid-credentials", "title": "Unauthorized", "status": 401,
                          "detail": "E-mail or password is wrong."});
    assert_eq!(wrong_password, expected);
    assert_eq!(unknown_email, expected);
    assert_eq!(not_an_email, expected);
}

#[actix_web::test]
async fn forged_and_garbage_tokens_and_the_old_shared_secret_get_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Another Ed25519 key under the development kid.
    let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let forger = Authenticator::new(&AuthSettings {
        signing_keys: format!("dev={key}").into(),
        verification_keys: String::new(),
        jwks_url: String::new(),
        jwks_refresh_seconds: 60,
        access_token_ttl_seconds: 900,
        ingest_keys: String::new().into(),
        read_keys: String::new().into(),
    })
    .unwrap();
    let (forged, _) = forger.issue(user.id, Role::Admin, Uuid::now_v7()).unwrap();
    // HS256 with the secret the repository used to ship (anyone could read it).
    let claims = json!({"sub": user.id, "role": "admin", "sid": Uuid::now_v7(), "iss": "recplatform-users",
                        "iat": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 600});
    let old_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"local-development-jwt-secret-change-me-0123456789"),
    )
    .unwrap();
    for token in [forged.as_str(), old_secret.as_str(), "garbage"] {
        let response = app.request(Method::GET, "/users", Some(token), None).await;
        assert_eq!(response.status(), 401, "{token}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            problem(response).await,
            json!({"type": "/problems/unauthorized", "title": "Unauthorized", "status": 401,
                   "detail": "The access token is invalid, expired or revoked."})
        );
    }
}

#[actix_web::test]
async fn service_keys_have_one_scope_and_never_change_accounts() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let with_key = |method: Method, path: String, key: &'static str, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, format!("{}/api/v1{path}", app.address))
            .header("x-api-key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let id = user.id;
    let action = json!({"product_id": Uuid::now_v7(), "action": "view"});
    assert_eq!(
        with_key(
            Method::POST,
            format!("/users/{id}/actions"),
            INGEST_KEY,
            Some(action)
        )
        .await,
        202
    );
    // The ingest key takes over nothing: no password, no deletion, no reading, no listing.
    let takeover = json!({"password": "attacker password 123"});
    assert_eq!(
        with_key(Method::PATCH, format!("/users/{id}"), INGEST_KEY, Some(takeover)).await,
        403
    );
    assert_eq!(
        with_key(Method::DELETE, format!("/users/{id}"), INGEST_KEY, None).await,
        403
    );
    assert_eq!(
        with_key(Method::GET, format!("/users/{id}"), INGEST_KEY, None).await,
        403
    );
    assert_eq!(
        with_key(Method::GET, "/users".into(), INGEST_KEY, None).await,
        403
    );
    // The read key belongs to other services: here it is no key at all; a wrong key neither.
    assert_eq!(
        with_key(Method::GET, format!("/users/{id}"), READ_KEY, None).await,
        401
    );
    assert_eq!(
        with_key(Method::GET, format!("/users/{id}"), "wrong", None).await,
        401
    );
    // The password still works.
    login(&app, &user.email, PASSWORD).await;
}

#[actix_web::test]
async fn nobody_but_the_owner_sets_a_password_and_admins_cannot_change_their_own_role() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let admin = app.admin().await;
    let takeover = json!({"password": "attacker password 123"});
    let path = format!("/users/{}", user.id);
    assert_eq!(
        status(&app, Method::PATCH, &path, &admin.token, Some(&takeover)).await,
        403
    );
    let own = format!("/users/{}", admin.id);
    assert_eq!(
        status(
            &app,
            Method::PATCH,
            &own,
            &admin.token,
            Some(&json!({"role": "user"}))
        )
        .await,
        403
    );
    // The configured (break-glass) admin is neither demoted nor deleted through the API.
    let other = app.new_admin().await;
    let demote = json!({"role": "user"});
    assert_eq!(
        status(&app, Method::PATCH, &own, &other.token, Some(&demote)).await,
        403
    );
    assert_eq!(status(&app, Method::DELETE, &own, &other.token, None).await, 403);
    assert_eq!(status(&app, Method::DELETE, &own, &admin.token, None).await, 403);
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = login(&app, &user.email, PASSWORD).await;
    let response = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(status(&app, Method::GET, "/users/me", access, None).await, 200);
    // The first refresh token again: someone copied it. The whole session ends.
    let reused = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(reused.status(), 401);
    assert_eq!(problem(reused).await["type"], "/problems/invalid-refresh-token");
    assert_eq!(status(&app, Method::GET, "/users/me", access, None).await, 401);
    assert_eq!(refresh(&app, &second["refresh_token"]).await.status(), 401);
    assert_eq!(refresh(&app, &json!("made up")).await.status(), 401);
    // Other sessions are untouched.
    let other = login(&app, &user.email, PASSWORD).await;
    assert_eq!(refresh(&app, &other["refresh_token"]).await.status(), 200);
}

#[actix_web::test]
async fn logout_ends_the_session_and_everywhere_ends_them_all() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (a, b) = (
        login(&app, &user.email, PASSWORD).await,
        login(&app, &user.email, PASSWORD).await,
    );
    let token_a = a["access_token"].as_str().unwrap();
    let token_b = b["access_token"].as_str().unwrap();
    assert_eq!(
        status(&app, Method::POST, "/auth/logout", token_a, None).await,
        204
    );
    assert_eq!(status(&app, Method::GET, "/users/me", token_a, None).await, 401);
    assert_eq!(refresh(&app, &a["refresh_token"]).await.status(), 401);
    assert_eq!(status(&app, Method::GET, "/users/me", token_b, None).await, 200);
    let everywhere = json!({"everywhere": true});
    assert_eq!(
        status(&app, Method::POST, "/auth/logout", token_b, Some(&everywhere)).await,
        204
    );
    assert_eq!(status(&app, Method::GET, "/users/me", token_b, None).await, 401);
    assert_eq!(
        status(&app, Method::GET, "/users/me", &user.token, None).await,
        401
    );
}

#[actix_web::test]
async fn a_new_password_a_demotion_or_a_deletion_ends_the_tokens_issued_before() {
    let app = spawn_app().await;
    // Password change: the old token stops working, a new login works.
    let user = app.new_user().await;
    let change = json!({"password": "a brand new password", "current_password": PASSWORD});
    let path = format!("/users/{}", user.id);
    assert_eq!(
        status(&app, Method::PATCH, &path, &user.token, Some(&change)).await,
        200
    );
    assert_eq!(
        status(&app, Method::GET, "/users/me", &user.token, None).await,
        401
    );
    let fresh = login(&app, &user.email, "a brand new password").await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(status(&app, Method::GET, "/users/me", fresh, None).await, 200);
    // Demotion: the demoted admin's token no longer lists users.
    let root = app.admin().await;
    let other = app.new_admin().await;
    assert_eq!(status(&app, Method::GET, "/users", &other.token, None).await, 200);
    let demote = json!({"role": "user"});
    let other_path = format!("/users/{}", other.id);
    assert_eq!(
        status(&app, Method::PATCH, &other_path, &root.token, Some(&demote)).await,
        200
    );
    assert_eq!(status(&app, Method::GET, "/users", &other.token, None).await, 401);
    // Deletion: the token is refused.
    assert_eq!(status(&app, Method::DELETE, &path, fresh, None).await, 204);
    assert_eq!(status(&app, Method::GET, "/users/me", fresh, None).await, 401);
}

#[actix_web::test]
async fn the_public_keys_are_published_as_a_jwks() {
    let app = spawn_app().await;
    let jwks: Value = app
        .client
        .get(format!("{}/api/v1/auth/jwks", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"][0],
        json!({"kty": "OKP", "crv": "Ed25519", "x": "ZXF4FYlxn0xmRq6Jtw5yBefNRhLRtPCjtGPgzGdkHy8",
               "kid": "dev", "use": "sig", "alg": "EdDSA"})
    );
    assert!(!jwks.to_string().contains("\"d\""), "no private part");
}

#[actix_web::test]
async fn every_protected_endpoint_answers_401_without_a_token_and_403_to_another_user() {
    let app = spawn_app().await;
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let id = owner.id;
    let action = json!({"product_id": Uuid::now_v7(), "action": "view"});
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/users/{id}"), None),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"display_name": "X"})),
        ),
        (Method::DELETE, format!("/users/{id}"), None),
        (Method::POST, format!("/users/{id}/actions"), Some(action)),
        (Method::GET, "/users".to_owned(), None),
    ];
    for (method, path, body) in cases {
        let anonymous = app.request(method.clone(), &path, None, body.as_ref()).await;
        assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
        let stranger = app
            .request(method.clone(), &path, Some(&other.token), body.as_ref())
            .await;
        assert_eq!(
            stranger.status(),
            403,
            "{method} {path} with another user's token"
        );
        assert_eq!(problem(stranger).await["type"], "/problems/forbidden");
    }
    // Nothing of the owner's changed.
    let me: Value = app
        .request(Method::GET, "/users/me", Some(&owner.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Test");
}

/// A service with tight limits (the development configuration lifts them).
async fn limited(limits: users::domain::limits::LimitSettings) -> TestApp {
    let mut settings = crate::helpers::test_settings().await;
    settings.users.limits = limits;
    crate::helpers::spawn_with_settings(settings).await
}

#[actix_web::test]
async fn guessing_passwords_meets_429_with_retry_after_and_a_growing_backoff() {
    let app = limited(users::domain::limits::LimitSettings {
        login_per_ip_per_minute: 1000,
        login_per_account_per_minute: 1000,
        failures_before_backoff: 3,
        ..Default::default()
    })
    .await;
    let user = app.new_user().await;
    let attempts = (0..40).map(|_| app.login(&user.email, "not the password"));
    let answers = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 20,
        "{statuses:?}"
    );
    // The account is in its backoff: even the right password waits, told how long.
    let response = app.login(&user.email, PASSWORD).await;
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(problem(response).await["type"], "/problems/too-many-requests");
    // Other accounts are not locked out by it.
    let other = app.new_user().await;
    assert_eq!(app.login(&other.email, PASSWORD).await.status(), 200);
}

#[actix_web::test]
async fn logins_and_registrations_per_address_are_limited() {
    let app = limited(users::domain::limits::LimitSettings {
        login_per_ip_per_minute: 5,
        registrations_per_ip_per_hour: 3,
        ..Default::default()
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let body = json!({"email": format!("r{i}-{}@example.com", Uuid::now_v7()), "password": PASSWORD, "display_name": "R"});
        statuses.push(app.register(&body).await.status().as_u16());
    }
    assert_eq!(statuses, vec![201, 201, 201, 429, 429]);
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses.push(
            app.login(&format!("nobody{i}@example.com"), "whatever pass")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[..5], [401, 401, 401, 401, 401]);
    assert_eq!(statuses[5..], [429, 429]);
}

#[actix_web::test]
async fn concurrent_password_hashes_are_bounded_with_503_never_500() {
    let app = limited(users::domain::limits::LimitSettings {
        concurrent_hashes: 1,
        hash_wait_ms: 1,
        ..Default::default()
    })
    .await;
    let app = &app;
    let registrations = (0..12).map(|i| {
        let body = json!({"email": format!("h{i}-{}@example.com", Uuid::now_v7()), "password": PASSWORD, "display_name": "H"});
        async move { app.register(&body).await }
    });
    let answers = futures_util::future::join_all(registrations).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 201 || *s == 503), "{statuses:?}");
    assert!(statuses.contains(&201) && statuses.contains(&503), "{statuses:?}");
    let busy = answers.iter().find(|r| r.status() == 503).unwrap();
    assert_eq!(busy.headers()["retry-after"], "1");
}

#[actix_web::test]
async fn one_user_cannot_flood_the_pipeline_with_actions() {
    let app = limited(users::domain::limits::LimitSettings {
        actions_per_user_per_second: 1,
        actions_burst_per_user: 10,
        ..Default::default()
    })
    .await;
    let user = app.new_user().await;
    let path = format!("/users/{}/actions", user.id);
    let batch = |n: usize| -> Value {
        json!((0..n)
            .map(|_| json!({"product_id": Uuid::now_v7(), "action": "purchase"}))
            .collect::<Vec<_>>())
    };
    let flood = app
        .request(Method::POST, &path, Some(&user.token), Some(&batch(500)))
        .await;
    assert_eq!(flood.status(), 429);
    assert!(flood.headers().contains_key("retry-after"));
    assert_eq!(
        status(&app, Method::POST, &path, &user.token, Some(&batch(10))).await,
        202
    );
    assert_eq!(
        status(&app, Method::POST, &path, &user.token, Some(&batch(1))).await,
        429
    );
}

#[actix_web::test]
async fn the_admin_bootstrap_never_promotes_an_account_someone_registered() {
    let app = spawn_app().await;
    let squatter = app.new_user().await;
    // The operator configures that address as the admin's: start-up refuses, nobody is promoted.
    let mut settings = app.settings.clone();
    settings.admin.email = Some(squatter.email.clone());
    settings.common.application.port = 0;
    let refused = users::startup::Application::build(settings).await;
    let error = format!("{:#}", refused.err().expect("start-up refuses"));
    assert!(error.contains("not promoted"), "{error}");
    let me: Value = app
        .request(Method::GET, "/users/me", Some(&squatter.token), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
}
