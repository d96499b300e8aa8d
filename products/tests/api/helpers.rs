//! Starts an isolated products service per test and talks to it over real HTTP.
use std::time::Duration;

use products::configuration::{get_configuration, Settings};
use products::startup::Application;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use shared::auth::Role;
use shared::configuration::{CommonSettings, KafkaSettings};
use shared::events::Envelope;
use shared::testing::{isolate, read_events_until};
use uuid::Uuid;

/// How long tests wait for something asynchronous (events, recovery).
pub const WAIT: Duration = Duration::from_secs(60);

/// A running service and what the test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// The real broker with the test's topic prefix (the app itself may use a cuttable proxy).
    pub kafka: KafkaSettings,
    /// The isolated settings it was started from (for a second replica on the same database).
    pub isolated: CommonSettings,
    pub client: reqwest::Client,
    /// An admin's and a plain user's token, signed with the service's secret.
    pub admin: String,
    pub user: String,
}

/// Starts the service on isolated settings; `customise` may then point it elsewhere.
pub async fn spawn_app_with(customise: impl FnOnce(&mut CommonSettings)) -> TestApp {
    spawn_app_with_settings(|settings| customise(&mut settings.common)).await
}

/// As [`spawn_app_with`], with every setting open to `customise`.
pub async fn spawn_app_with_settings(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings: Settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    let kafka = settings.common.kafka.clone();
    let isolated = settings.common.clone();
    customise(&mut settings);
    let admin = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let user = shared::testing::dev_token(Uuid::now_v7(), Role::User);
    let app = Application::build(settings).await.expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        kafka,
        isolated,
        client: reqwest::Client::new(),
        admin,
        user,
    }
}

/// Starts the service with the isolated settings unchanged.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A valid product body with this name and category.
pub fn product(name: &str, category: &str) -> Value {
    json!({"name": name, "category": category, "price": {"amount": "19.90", "currency": "EUR"}})
}

impl TestApp {
    /// A request to `/api/v1{path}` with an optional bearer token.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.address));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Creates a product as admin; returns its body.
    pub async fn create(&self, body: &Value) -> Value {
        let response = self
            .request(Method::POST, "/products", Some(&self.admin))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create failed");
        response.json().await.unwrap()
    }

    /// PATCH as admin with `If-Match: "<version>"` (or none).
    pub async fn patch(&self, id: &str, version: Option<i64>, body: &Value) -> Response {
        let mut request = self
            .request(Method::PATCH, &format!("/products/{id}"), Some(&self.admin))
            .json(body);
        if let Some(version) = version {
            request = request.header("if-match", format!("\"{version}\""));
        }
        request.send().await.unwrap()
    }

    /// Events about `product` on `product_updates` once `count` distinct ones arrived.
    pub async fn product_events(&self, product: &str, count: usize) -> Vec<Envelope> {
        let distinct = |events: &[Envelope]| {
            let mut seen = std::collections::HashSet::new();
            events
                .iter()
                .filter(|e| e.key == product && seen.insert(e.event_id))
                .cloned()
                .collect::<Vec<_>>()
        };
        let all = read_events_until(&self.kafka, "product_updates", WAIT, |events| {
            distinct(events).len() >= count
        })
        .await;
        distinct(&all)
    }
}

/// The problem+json body of a response, checking the media type.
pub async fn problem(response: Response) -> Value {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    response.json().await.unwrap()
}
