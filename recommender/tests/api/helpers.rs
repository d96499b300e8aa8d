//! Starts an isolated recommender per test, feeds it events and reads its API.
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use recommender::configuration::{get_configuration, Settings};
use recommender::replication::SharedReplica;
use recommender::startup::Application;
use recommender::startup::RouterHandle;
use reqwest::Method;
use serde_json::{json, Value};
use shared::auth::Role;
use shared::configuration::CommonSettings;
use shared::events::action::{ActionKind, UserAction};
use shared::events::product::{Price, ProductDeleted, ProductSnapshot};
use shared::events::user::{UserDeleted, UserProfile};
use shared::events::{event_types, topics, Envelope};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};
use shared::testing::{eventually, isolate};
use uuid::Uuid;

/// How long tests wait for something asynchronous.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running recommender and what the test needs around it.
pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub producer: EventProducer,
    pub router: RouterHandle,
    pub replica: SharedReplica,
    pub admin: String,
    pub client: reqwest::Client,
}

/// Isolated settings for a new test.
pub async fn test_settings() -> Settings {
    let mut settings: Settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    // Tests flush explicitly (and the timer still runs): keep timed flushes out of the way.
    settings.recommender.flush_interval_ms = 60_000;
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
    let registry = new_registry("test-producer").unwrap();
    let producer =
        EventProducer::new(&settings.common.kafka, ProducerMetrics::new(&registry).unwrap()).unwrap();
    let admin = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let app = Application::build(settings.clone())
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let router = app.router();
    let replica = app.replica();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        settings,
        producer,
        router,
        replica,
        admin,
        client: reqwest::Client::new(),
    }
}

/// A fixed instant plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

impl TestApp {
    /// Publishes a product's state (as the products service would).
    pub async fn product(&self, id: Uuid, category: &str, active: bool, version: i64) {
        let snapshot = self.product_snapshot(id, category, active, version);
        let kind = if version == 1 {
            event_types::PRODUCT_CREATED
        } else {
            event_types::PRODUCT_UPDATED
        };
        self.producer
            .publish(
                topics::PRODUCT_UPDATES,
                &Envelope::new(kind, id.to_string(), snapshot),
            )
            .await
            .unwrap();
    }

    /// A product's state as the products service would publish it.
    pub fn product_snapshot(&self, id: Uuid, category: &str, active: bool, version: i64) -> ProductSnapshot {
        ProductSnapshot {
            id,
            name: format!("P {id}"),
            description: String::new(),
            category: category.into(),
            tags: vec![],
            price: Price {
                amount: "1.00".into(),
                currency: "EUR".into(),
            },
            stock: 1,
            active,
            attributes: json!({}),
            version,
            created_at: at(0),
            updated_at: at(version),
        }
    }

    /// Publishes a product's deletion.
    pub async fn delete_product(&self, id: Uuid, version: i64) {
        let event = Envelope::new(
            event_types::PRODUCT_DELETED,
            id.to_string(),
            ProductDeleted { id, version },
        );
        self.producer
            .publish(topics::PRODUCT_UPDATES, &event)
            .await
            .unwrap();
    }

    /// Publishes a profile with interests.
    pub async fn profile(&self, user: Uuid, interests: &[&str]) {
        let profile = UserProfile {
            id: user,
            display_name: "U".into(),
            age: None,
            country: None,
            interests: interests.iter().map(|s| s.to_string()).collect(),
            role: Role::User,
            created_at: at(0),
            updated_at: at(1),
        };
        let event = Envelope::new(event_types::USER_REGISTERED, user.to_string(), profile);
        self.producer.publish(topics::USER_UPDATES, &event).await.unwrap();
    }

    /// Publishes a user's deletion.
    pub async fn delete_user(&self, user: Uuid) {
        let event = Envelope::new(
            event_types::USER_DELETED,
            user.to_string(),
            UserDeleted { id: user },
        );
        self.producer.publish(topics::USER_UPDATES, &event).await.unwrap();
    }

    /// Publishes an action (as the users service would); returns its event.
    pub async fn action(
        &self,
        user: Uuid,
        product: Uuid,
        action: ActionKind,
        second: i64,
    ) -> Envelope<UserAction> {
        let event = self.action_event(user, product, action, None, at(second));
        self.producer.publish(topics::USER_ACTIONS, &event).await.unwrap();
        event
    }

    /// An action event as the users service would build it (not published).
    pub fn action_event(
        &self,
        user: Uuid,
        product: Uuid,
        action: ActionKind,
        value: Option<f64>,
        occurred_at: DateTime<Utc>,
    ) -> Envelope<UserAction> {
        let payload = UserAction {
            user_id: user,
            product_id: product,
            action,
            value,
            occurred_at,
        };
        let mut event = Envelope::new(event_types::USER_ACTION, user.to_string(), payload);
        event.occurred_at = occurred_at;
        event
    }

    /// Publishes an already built event again (a duplicate).
    pub async fn republish(&self, event: &Envelope<UserAction>) {
        self.producer.publish(topics::USER_ACTIONS, event).await.unwrap();
    }

    /// A GET on the API with the admin token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .request(Method::GET, format!("{}/api/v1{path}", self.address))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap()
    }

    /// The user's recommendations as JSON.
    pub async fn recommendations(&self, user: Uuid) -> Value {
        let response = self.get(&format!("/users/{user}/recommendations?limit=20")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The products similar to `product`, as answered.
    pub async fn similar(&self, product: Uuid) -> Value {
        let response = self.get(&format!("/products/{product}/similar")).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Waits until the catalogue knows `product` (it shows in the popular list of `category`).
    pub async fn wait_for_product(&self, product: Uuid, category: &str) {
        let path = format!("/recommendations/popular?category={category}&limit=50");
        eventually("the catalogue has the product", WAIT, || async {
            let body: Value = self.get(&path).await.json().await.unwrap_or_default();
            body.as_array()
                .is_some_and(|items| items.iter().any(|i| i["product_id"] == json!(product)))
        })
        .await;
    }

    /// `recommendations_served_total` of `source` (memory, cache, database, computed).
    pub async fn served(&self, source: &str) -> u64 {
        let metrics = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let label = format!("source=\"{source}\"");
        metrics
            .lines()
            .find(|l| l.starts_with("recommendations_served_total") && l.contains(&label))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Flushes until every aggregator has flushed the events published so far (events reach
    /// the aggregators asynchronously, so flush until `condition` holds).
    pub async fn flush_until<F, Fut>(&self, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        eventually(what, WAIT, || async {
            self.router.flush_all().await.expect("flush");
            condition().await
        })
        .await;
    }
}

/// The product ids of a recommendations answer, in order.
pub fn products(body: &Value) -> Vec<Uuid> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Waits until none of `gone` is in the user's list.
pub async fn eventually_gone(app: &TestApp, user: Uuid, gone: &[Uuid]) {
    eventually("the products leave the list", WAIT, || async {
        let list = products(&app.recommendations(user).await);
        gone.iter().all(|p| !list.contains(p))
    })
    .await;
}

/// Waits until the user's list falls back on their interests first.
pub async fn eventually_interests(app: &TestApp, user: Uuid) {
    eventually("the profile is consumed", WAIT, || async {
        app.recommendations(user).await["items"][0]["reason"]["type"] == "popular_in"
    })
    .await;
}
