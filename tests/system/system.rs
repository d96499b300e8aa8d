//! The four real binaries (`shared::testing::system`) and what tests do with them.
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use shared::configuration::CommonSettings;
use shared::testing::system::ServiceSet;
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(90);
pub const API_KEY: &str = "local-development-read-key";

/// The running system.
pub struct System {
    services: ServiceSet,
    pub client: reqwest::Client,
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Starts the debug binaries; `tune(name, env)` may add `APP_*` variables for a service.
    pub async fn start_with(tune: impl Fn(&str, &mut Vec<(String, String)>)) -> Self {
        let binaries = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug");
        Self {
            services: ServiceSet::start(&binaries, tune).await,
            // Idle connections are dropped well before the services' keep-alive (5 s) closes
            // them: a POST on a connection the server has just closed fails and is not retried
            // (it failed the fuzz test's probe once).
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn users(&self) -> String {
        self.services.api("users")
    }
    pub fn products(&self) -> String {
        self.services.api("products")
    }
    pub fn recommender(&self) -> String {
        self.services.api("recommender")
    }
    pub fn analytics(&self) -> String {
        self.services.api("analytics")
    }

    /// The API base of every service, in start order.
    pub fn apis(&self) -> Vec<(&'static str, String)> {
        shared::testing::system::SERVICES
            .iter()
            .map(|name| (*name, self.services.api(name)))
            .collect()
    }

    /// `http://127.0.0.1:<port>` of a service's first instance.
    pub fn root(&self, name: &str) -> &str {
        self.services.root(name)
    }

    /// The isolated settings of a service (its database, group, topic prefix).
    pub fn settings(&self, name: &str) -> &CommonSettings {
        self.services.settings(name)
    }

    /// SIGKILL of every instance of a service.
    pub fn kill(&mut self, name: &str) {
        self.services.kill(name);
    }

    /// One more instance of a service, in its group, on its database.
    pub async fn start_instance(&mut self, name: &str) {
        self.services.start_instance(name).await;
    }

    /// The bootstrapped admin's access token.
    pub async fn admin_token(&self) -> String {
        let login = json!({"email": "admin@example.com", "password": "local-admin-password"});
        let url = format!("{}/auth/login", self.users());
        let (_, answer) = self.call(Method::POST, &url, None, Some(login)).await;
        answer["access_token"]
            .as_str()
            .expect("the bootstrapped admin logs in")
            .to_owned()
    }

    /// A JSON request with a bearer token; returns status and body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls `url` (with the API key) until `condition` holds on its JSON; returns it.
    pub async fn until(&self, what: &str, url: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(response) = self.client.get(url).header("x-api-key", API_KEY).send().await {
                last = response.json().await.unwrap_or(Value::Null);
                if condition(&last) {
                    return last;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last answer from {url}: {last}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Registers a user and logs in: (id, access token).
pub async fn register(system: &System, name: &str) -> (Uuid, String) {
    let email = format!("{name}-{}@example.com", Uuid::now_v7().simple());
    let body = json!({"email": email, "password": "system test password", "display_name": name});
    let (status, user) = system
        .call(
            Method::POST,
            &format!("{}/users", system.users()),
            None,
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let login = json!({"email": email, "password": "system test password"});
    let (_, token) = system
        .call(
            Method::POST,
            &format!("{}/auth/login", system.users()),
            None,
            Some(login),
        )
        .await;
    (
        user["id"].as_str().unwrap().parse().unwrap(),
        token["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Creates a product in `category` as the admin; its id.
pub async fn product(system: &System, admin: &str, name: &str, category: &str) -> Uuid {
    let body = json!({"name": name, "category": category, "price": {"amount": "10.00", "currency": "EUR"}});
    let (status, created) = system
        .call(
            Method::POST,
            &format!("{}/products", system.products()),
            Some(admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().parse().unwrap()
}

/// Posts a batch of (product, action) for `user`, which must be accepted.
pub async fn act(system: &System, user: Uuid, token: &str, actions: &[(Uuid, &str)]) {
    let body: Vec<Value> = actions
        .iter()
        .map(|(p, a)| json!({"product_id": p, "action": a}))
        .collect();
    let url = format!("{}/users/{user}/actions", system.users());
    let (status, answer) = system
        .call(Method::POST, &url, Some(token), Some(json!(body)))
        .await;
    assert_eq!(status, 202, "{answer}");
}

/// The product ids of a recommendation list.
pub fn listed(list: &Value) -> Vec<Uuid> {
    list["items"].as_array().map_or(Vec::new(), |items| {
        items
            .iter()
            .filter_map(|i| i["product_id"].as_str()?.parse().ok())
            .collect()
    })
}
