//! Property tests over the running service: valid profiles round-trip, garbage never yields 5xx.
use std::sync::OnceLock;

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use shared::testing::start_in_background;

use crate::helpers::{spawn_app, TestApp, TestUser, PASSWORD};

/// One service for all cases, on its own actix system thread.
fn shared_app() -> &'static ((TestApp, String, TestUser), tokio::runtime::Runtime) {
    static APP: OnceLock<((TestApp, String, TestUser), tokio::runtime::Runtime)> = OnceLock::new();
    APP.get_or_init(|| {
        start_in_background(|| async {
            let app = spawn_app().await;
            let admin = app.admin_token().await;
            // The fuzzing target: arbitrary bodies may change whatever it may change.
            let target = app.new_user().await;
            (app, admin, target)
        })
    })
}

fn profile() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z][A-Za-z0-9 ]{0,30}[A-Za-z0-9]",
        prop::option::of(13i64..=120),
        prop::option::of("[A-Z]{2}"),
        prop::collection::btree_set("[a-z]{1,12}", 0..8),
    )
        .prop_map(|(name, age, country, interests)| {
            json!({"display_name": name, "age": age, "country": country,
                   "interests": interests.into_iter().collect::<Vec<_>>()})
        })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        Just(json!("action")),
        Just(json!("rate")),
    ];
    leaf.prop_recursive(3, 20, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("email".to_owned()),
                    Just("password".to_owned()),
                    Just("product_id".to_owned()),
                    Just("action".to_owned()),
                    Just("value".to_owned()),
                    Just("age".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_profile_round_trips_through_the_api_unchanged(profile in profile()) {
        let ((app, admin, _), runtime) = shared_app();
        runtime.block_on(async {
            let mut body = profile.clone();
            body["email"] = json!(format!("p-{}@example.com", uuid::Uuid::now_v7().simple()));
            body["password"] = json!(PASSWORD);
            let created = app.register(&body).await;
            prop_assert_eq!(created.status(), 201);
            let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            let read: Value = app.request(Method::GET, &format!("/users/{id}"), Some(admin), None).await.json().await.unwrap();
            for field in ["display_name", "age", "country", "interests"] {
                prop_assert_eq!(&read[field], &profile[field], "{}", field);
            }
            Ok(())
        })?;
    }

    #[test]
    fn arbitrary_json_never_yields_a_server_error(body in any_json()) {
        let ((app, _, target), runtime) = shared_app();
        runtime.block_on(async {
            let id = target.id;
            for (method, path) in [
                (Method::POST, "/users".to_owned()),
                (Method::POST, "/auth/login".to_owned()),
                (Method::PATCH, format!("/users/{id}")),
                (Method::POST, format!("/users/{id}/actions")),
            ] {
                let response = app.request(method.clone(), &path, Some(&target.token), Some(&body)).await;
                prop_assert!(response.status().as_u16() < 500, "{} {} -> {} for {}", method, path, response.status(), body);
            }
            Ok(())
        })?;
    }
}
