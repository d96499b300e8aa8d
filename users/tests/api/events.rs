//! What `user_updates` carries for registrations, updates and deletions.
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[actix_web::test]
async fn register_update_delete_publish_exactly_these_events_in_order() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let path = format!("/users/{}", user.id);
    let patch = json!({"country": "fr", "interests": ["Jazz"]});
    assert_eq!(
        app.request(Method::PATCH, &path, Some(&user.token), Some(&patch))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.request(Method::DELETE, &path, Some(&user.token), None)
            .await
            .status(),
        204
    );

    let events = app.user_events(user.id, 3).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["user_registered", "user_updated", "user_deleted"]);
    assert!(events
        .iter()
        .all(|e| e.key == user.id.to_string() && e.schema_version == 1));
    assert!(events[0].occurred_at <= events[1].occurred_at);

    let registered = &events[0].payload;
    let keys: Vec<&String> = registered.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec![
            "age",
            "country",
            "created_at",
            "display_name",
            "id",
            "interests",
            "role",
            "updated_at"
        ]
    );
    assert_eq!(registered["id"], json!(user.id));
    assert_eq!(events[1].payload["country"], "FR");
    assert_eq!(events[1].payload["interests"], json!(["Jazz"]));
    assert_eq!(events[2].payload, json!({"id": user.id}));
}

#[actix_web::test]
async fn no_event_ever_carries_credentials_or_the_email_address() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let change = json!({"password": "another password", "current_password": crate::helpers::PASSWORD});
    let path = format!("/users/{}", user.id);
    assert_eq!(
        app.request(Method::PATCH, &path, Some(&user.token), Some(&change))
            .await
            .status(),
        200
    );
    for event in app.user_events(user.id, 2).await {
        let text = serde_json::to_string(&event).unwrap();
        for secret in [user.email.as_str(), "argon2", "password", "another password"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(matches!(event.payload, Value::Object(_)));
    }
}
