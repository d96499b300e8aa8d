//! Login, tokens, the API key and the authorisation matrix.
use reqwest::Method;
use serde_json::{json, Value};
use shared::auth::{AuthSettings, Authenticator, Role};
use uuid::Uuid;

use crate::helpers::{problem, spawn_app, PASSWORD};

#[actix_web::test]
async fn login_returns_a_bearer_token_that_grants_access() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let response = app
        .login(&format!("  {}", user.email.to_uppercase()), PASSWORD)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.request(Method::GET, "/users/me", Some(token), None)
            .await
            .status(),
        200
    );
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
async fn forged_and_garbage_tokens_get_401_with_www_authenticate() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let forger = Authenticator::new(&AuthSettings {
        jwt_secret: "someone-else's-secret-0123456789abcdef".to_string().into(),
        token_ttl_seconds: 60,
        api_key: "k".to_string().into(),
    })
    .unwrap();
    let (forged, _) = forger.issue(user.id, Role::Admin).unwrap();
    for token in [forged.as_str(), "garbage"] {
        let response = app.request(Method::GET, "/users/me", Some(token), None).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            problem(response).await,
            json!({"type": "/problems/unauthorized", "title": "Unauthorized", "status": 401,
                   "detail": "The access token is invalid or expired."})
        );
    }
}

#[actix_web::test]
async fn the_api_key_grants_service_access_and_a_wrong_key_is_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let url = format!("{}/api/v1/users/{}", app.address, user.id);
    let with_key = |key: &'static str| app.client.get(&url).header("x-api-key", key).send();
    assert_eq!(with_key("local-development-api-key").await.unwrap().status(), 200);
    assert_eq!(with_key("wrong").await.unwrap().status(), 401);
    // The key is not an admin: listing users stays admin-only.
    let list = app
        .client
        .get(format!("{}/api/v1/users", app.address))
        .header("x-api-key", "local-development-api-key");
    assert_eq!(list.send().await.unwrap().status(), 403);
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
