//! Starts the four binaries on isolated infrastructure: shared topic prefix (they talk through
//! Kafka), one database, consumer group and Redis prefix each.
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use shared::configuration::CommonSettings;
use shared::testing::{create_database, isolate, ServiceProcess};

pub const WAIT: Duration = Duration::from_secs(90);
pub const API_KEY: &str = "local-development-api-key";

/// The running system.
pub struct System {
    pub urls: [String; 4],
    _processes: Vec<ServiceProcess>,
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

impl System {
    pub async fn start() -> Self {
        // users' configuration has every common section; the others only differ in names.
        let mut base: CommonSettings = users::configuration::get_configuration()
            .expect("configuration")
            .common;
        isolate(&mut base).await;
        let mut processes = Vec::new();
        let mut urls = Vec::new();
        for name in ["users", "products", "recommender", "analytics"] {
            let mut settings = base.clone();
            settings.database.database_name = format!("{}_{name}", base.database.database_name);
            settings.kafka.consumer_group = format!("{}_{name}", base.kafka.consumer_group);
            settings.redis.key_prefix = format!("{}{name}:", base.redis.key_prefix);
            create_database(&settings.database).await;
            let flushes = [
                ("APP_RECOMMENDER__FLUSH_INTERVAL_MS", "200"),
                ("APP_ANALYTICS__FLUSH_INTERVAL_MS", "200"),
            ];
            let process = ServiceProcess::start(&binary(name), &settings, &flushes);
            process.wait_ready().await;
            urls.push(format!("http://127.0.0.1:{}/api/v1", process.port()));
            processes.push(process);
        }
        let urls: [String; 4] = urls.try_into().expect("four services");
        Self {
            urls,
            _processes: processes,
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
