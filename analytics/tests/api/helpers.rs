//! Starts an isolated analytics service per test, feeds it events and reads its API.
use std::time::Duration;

use analytics::configuration::{get_configuration, Settings};
use analytics::startup::Application;
use analytics::startup::RouterHandle;
use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::auth::Role;
use shared::configuration::CommonSettings;
use shared::events::action::{ActionKind, UserAction};
use shared::events::{event_types, topics, Envelope};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};
use shared::testing::isolate;
use uuid::Uuid;

/// How long tests wait for something asynchronous.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running service and what the test needs around it.
pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub producer: EventProducer,
    pub router: RouterHandle,
    pub admin: String,
    pub client: reqwest::Client,
}

/// Starts the service on isolated settings; `customise` may then point it elsewhere.
pub async fn spawn_app_with(customise: impl FnOnce(&mut CommonSettings)) -> TestApp {
    let mut settings: Settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    // Tests flush explicitly.
    settings.analytics.flush_interval_ms = 60_000;
    customise(&mut settings.common);
    let registry = new_registry("test-producer").unwrap();
    let producer =
        EventProducer::new(&settings.common.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap();
    let admin = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let app = Application::build(settings.clone())
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let router = app.router();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        settings,
        producer,
        router,
        admin,
        client: reqwest::Client::new(),
    }
}

/// Starts the service with the isolated settings unchanged.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    /// Publishes an action at `at`; returns its event.
    pub async fn action(
        &self,
        user: Uuid,
        product: Uuid,
        action: ActionKind,
        value: Option<f64>,
        at: DateTime<Utc>,
    ) -> Envelope<UserAction> {
        let payload = UserAction {
            user_id: user,
            product_id: product,
            action,
            value,
            occurred_at: at,
        };
        let mut event = Envelope::new(event_types::USER_ACTION, user.to_string(), payload);
        event.occurred_at = at;
        self.producer.publish(topics::USER_ACTIONS, &event).await.unwrap();
        event
    }

    /// A GET with the admin token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1{path}", self.address))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap()
    }

    /// Flushes until `condition` holds on the JSON of `path`.
    pub async fn flush_until(&self, path: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            self.router.flush_all().await.expect("flush");
            let response = self.get(path).await;
            if response.status() == 200 {
                last = response.json().await.unwrap();
                if condition(&last) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never reached the expected state; last answer: {last}");
    }
}
