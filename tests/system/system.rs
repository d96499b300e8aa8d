//! Starts the four binaries on isolated infrastructure: shared topic prefix (they talk through
//! Kafka), one database, consumer group and Redis prefix each. Services can be killed,
//! restarted and scaled out while a test runs.
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use shared::configuration::CommonSettings;
use shared::testing::{create_database, isolate, ServiceProcess};
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(90);
pub const API_KEY: &str = "local-development-api-key";
pub const NAMES: [&str; 4] = ["users", "products", "recommender", "analytics"];

/// One service: how to start it and its running instances (the first one serves `url`).
struct Service {
    settings: CommonSettings,
    env: Vec<(String, String)>,
    instances: Vec<ServiceProcess>,
}

impl Service {
    async fn start_instance(&mut self, name: &str) -> String {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let process = ServiceProcess::start(&binary(name), &self.settings, &env);
        process.wait_ready().await;
        let url = format!("http://127.0.0.1:{}/api/v1", process.port());
        self.instances.push(process);
        url
    }
}

/// The running system.
pub struct System {
    pub urls: [String; 4],
    services: Vec<Service>,
    pub client: reqwest::Client,
}

fn binary(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/debug")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test does)",
        path.display()
    );
    path.display().to_string()
}

fn index(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(|_, _| {}).await
    }

    /// Starts the system; `tune(name, env)` may add `APP_*` variables for a service (e.g. to
    /// route its Kafka, Postgres or Redis through a proxy the test can cut).
    pub async fn start_with(tune: impl Fn(&str, &mut Vec<(String, String)>)) -> Self {
        // users' configuration has every common section; the others only differ in names.
        let mut base: CommonSettings = users::configuration::get_configuration()
            .expect("configuration")
            .common;
        isolate(&mut base).await;
        let mut services = Vec::new();
        let mut urls = Vec::new();
        for name in NAMES {
            let mut settings = base.clone();
            settings.database.database_name = format!("{}_{name}", base.database.database_name);
            settings.kafka.consumer_group = format!("{}_{name}", base.kafka.consumer_group);
            settings.redis.key_prefix = format!("{}{name}:", base.redis.key_prefix);
            create_database(&settings.database).await;
            let mut env = vec![
                ("APP_RECOMMENDER__FLUSH_INTERVAL_MS".into(), "200".into()),
                ("APP_ANALYTICS__FLUSH_INTERVAL_MS".into(), "200".into()),
            ];
            tune(name, &mut env);
            let mut service = Service {
                settings,
                env,
                instances: Vec::new(),
            };
            urls.push(service.start_instance(name).await);
            services.push(service);
        }
        Self {
            urls: urls.try_into().expect("four services"),
            services,
            client: reqwest::Client::new(),
        }
    }

    pub fn users(&self) -> &str {
        &self.urls[0]
    }
    pub fn products(&self) -> &str {
        &self.urls[1]
    }
    pub fn recommender(&self) -> &str {
        &self.urls[2]
    }
    pub fn analytics(&self) -> &str {
        &self.urls[3]
    }

    /// The isolated settings of a service (its database, group, topic prefix).
    pub fn settings(&self, name: &str) -> &CommonSettings {
        &self.services[index(name)].settings
    }

    /// SIGKILL of every instance of a service: no flush, no commit, no goodbye.
    pub fn kill(&mut self, name: &str) {
        for process in self.services[index(name)].instances.drain(..) {
            process.kill();
        }
    }

    /// Starts one more instance of a service (in the same group, on the same database) and
    /// waits until it is ready; the first running instance keeps serving the service's URL.
    pub async fn start_instance(&mut self, name: &str) {
        let i = index(name);
        let url = self.services[i].start_instance(name).await;
        if self.services[i].instances.len() == 1 {
            self.urls[i] = url;
        }
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
