//! Starts an isolated users service per test and talks to it over real HTTP.
use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{json, Value};
use shared::configuration::{CommonSettings, KafkaSettings};
use shared::events::Envelope;
use shared::outbox::OutboxHandle;
use shared::testing::{isolate, read_events_until, unique_id};
use users::configuration::{get_configuration, Settings};
use users::startup::Application;
use uuid::Uuid;

/// How long tests wait for something asynchronous (events, recovery).
pub const WAIT: Duration = Duration::from_secs(60);
/// A password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A running service and what the test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub settings: Settings,
    /// The real broker with the test's topic prefix (the app itself may use a cuttable proxy).
    pub kafka: KafkaSettings,
    pub outbox: OutboxHandle,
    pub client: reqwest::Client,
}

/// Isolated settings for a new test (fresh database, topics, group, Redis prefix).
pub async fn test_settings() -> Settings {
    let mut settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    settings
}

/// Starts the service on isolated settings; `customise` may then point it elsewhere.
pub async fn spawn_app_with(customise: impl FnOnce(&mut CommonSettings)) -> TestApp {
    let mut settings = test_settings().await;
    customise(&mut settings.common);
    spawn_with_settings(settings).await
}

/// Starts the service with the isolated settings unchanged.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts (another instance of) the service with exactly these settings.
pub async fn spawn_with_settings(settings: Settings) -> TestApp {
    let mut kafka = settings.common.kafka.clone();
    kafka.brokers = get_configuration()
        .expect("configuration loads")
        .common
        .kafka
        .brokers;
    let app = Application::build(settings.clone())
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let outbox = app.outbox();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        settings,
        kafka,
        outbox,
        client: reqwest::Client::new(),
    }
}

/// A registered user and a token for them.
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

impl TestApp {
    /// Sends `body` (if any) as JSON with an optional bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    pub async fn register(&self, body: &Value) -> Response {
        self.request(Method::POST, "/users", None, Some(body)).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request(
            Method::POST,
            "/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// A token for these credentials (panics unless the login succeeds).
    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200, "login of {email} failed");
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A token of the admin bootstrapped from configuration.
    pub async fn admin_token(&self) -> String {
        let email = self.settings.admin.email.clone().expect("admin configured");
        self.token(&email, "local-admin-password").await
    }

    /// The admin bootstrapped from configuration, logged in.
    pub async fn admin(&self) -> TestUser {
        let email = self.settings.admin.email.clone().expect("admin configured");
        let token = self.admin_token().await;
        let me: Value = self
            .request(Method::GET, "/users/me", Some(&token), None)
            .await
            .json()
            .await
            .unwrap();
        let id = me["id"].as_str().unwrap().parse().unwrap();
        TestUser { id, email, token }
    }

    /// A fresh user promoted to admin by the bootstrapped one, logged in after the promotion
    /// (which ended the sessions before it).
    pub async fn new_admin(&self) -> TestUser {
        let user = self.new_user().await;
        let root = self.admin_token().await;
        let promoted = self
            .request(
                Method::PATCH,
                &format!("/users/{}", user.id),
                Some(&root),
                Some(&json!({"role": "admin"})),
            )
            .await;
        assert_eq!(promoted.status(), 200);
        let token = self.token(&user.email, PASSWORD).await;
        TestUser { token, ..user }
    }

    /// Registers a fresh user and logs them in.
    pub async fn new_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", unique_id());
        let response = self
            .register(&json!({"email": email, "password": PASSWORD, "display_name": "Test"}))
            .await;
        assert_eq!(response.status(), 201);
        let id = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let token = self.token(&email, PASSWORD).await;
        TestUser { id, email, token }
    }

    /// Events of `user_updates` about `user`, once `count` distinct ones arrived (duplicates
    /// from redeliveries dropped, first occurrence kept).
    pub async fn user_events(&self, user: Uuid, count: usize) -> Vec<Envelope> {
        let key = user.to_string();
        let distinct = |events: &[Envelope]| {
            let mut seen = std::collections::HashSet::new();
            events
                .iter()
                .filter(|e| e.key == key && seen.insert(e.event_id))
                .cloned()
                .collect::<Vec<_>>()
        };
        let all = read_events_until(&self.kafka, "user_updates", WAIT, |events| {
            distinct(events).len() >= count
        })
        .await;
        distinct(&all)
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The problem+json body of a response, checking the media type.
pub async fn problem(response: Response) -> Value {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    response.json().await.unwrap()
}
