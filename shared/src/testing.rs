//! Test support (feature `test-support`): every test gets its own database, topic prefix,
//! consumer group and Redis key prefix, so tests run in parallel against one real Postgres,
//! Kafka and Redis without seeing each other. A test that cannot reach one of them panics with
//! a message that says how to start it.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use sea_orm::{ConnectionTrait, Database};
use secrecy::ExposeSecret;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

use crate::configuration::{CommonSettings, DatabaseSettings, KafkaSettings, RedisSettings};
use crate::events::{self, topics, Envelope};
use crate::kafka::admin::ensure_topics;

const START_INFRA: &str = "start it with `scripts/infra up` (scripts/test does this for you)";

/// The development signing key of `users/configuration/base.yaml` (refused in production), so
/// that tests and benchmarks of every service can sign tokens the services accept.
pub const DEV_SIGNING_KEYS: &str = "dev=MC4CAQAwBQYDK2VwBCIEIOC97OxrqW3LEwmAt9gU8dfvXiFzi5lTIPHqtrU40qhW";

/// A token of `user` with `role` in a session of its own, signed with the development key.
pub fn dev_token(user: Uuid, role: crate::auth::Role) -> String {
    dev_token_in(user, role, Uuid::now_v7())
}

/// A token of `user` with `role` in `session`, signed with the development key.
pub fn dev_token_in(user: Uuid, role: crate::auth::Role, session: Uuid) -> String {
    let settings = crate::auth::AuthSettings {
        signing_keys: DEV_SIGNING_KEYS.to_owned().into(),
        verification_keys: String::new(),
        jwks_url: String::new(),
        jwks_refresh_seconds: 60,
        access_token_ttl_seconds: 3600,
        ingest_keys: String::new().into(),
        read_keys: String::new().into(),
    };
    let issuer = crate::auth::Authenticator::new(&settings).expect("the development key is valid");
    issuer
        .issue(user, role, session)
        .expect("the development key signs")
        .0
}

/// A header of a consumed message as text (e.g. a dead-letter copy's `dlq.reason`).
pub fn header(message: &OwnedMessage, name: &str) -> String {
    use rdkafka::message::Headers;
    let headers = message
        .headers()
        .unwrap_or_else(|| panic!("no headers (looking for {name})"));
    let header = headers
        .iter()
        .find(|h| h.key == name)
        .unwrap_or_else(|| panic!("no {name} header"));
    String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned()
}

/// The names one test got.
#[derive(Debug, Clone)]
pub struct Isolation {
    pub id: String,
    pub database_name: String,
}

/// A short random id for names (databases, topics, groups, key prefixes).
pub fn unique_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Points `settings` at fresh, private resources and creates them: database `test_<id>`, topics
/// `t_<id>_*` (3 partitions), consumer group `g_<id>`, Redis prefix `test:<id>:`, HTTP port 0.
pub async fn isolate(settings: &mut CommonSettings) -> Isolation {
    crate::telemetry::init_for_tests();
    let id = unique_id();
    settings.application.host = "127.0.0.1".into();
    settings.application.port = 0;
    settings.database.database_name = format!("test_{id}");
    settings.database.startup_timeout_seconds = 5;
    settings.redis.key_prefix = format!("test:{id}:");
    settings.kafka.topic_prefix = format!("t_{id}_");
    settings.kafka.consumer_group = format!("g_{id}");
    settings.kafka.partitions = 3;
    settings.kafka.session_timeout_ms = 6_000;
    settings.kafka.commit_interval_ms = 200;
    settings.kafka.statistics_interval_ms = 1_000;
    create_database(&settings.database).await;
    require_redis(&settings.redis).await;
    create_topics(&settings.kafka).await;
    Isolation {
        database_name: settings.database.database_name.clone(),
        id,
    }
}

/// Creates the (empty) database named in `settings`.
pub async fn create_database(settings: &DatabaseSettings) {
    let admin = Database::connect(settings.url_for("postgres").expose_secret())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {}:{} is not reachable ({e}); {START_INFRA}",
                settings.host, settings.port
            )
        });
    admin
        .execute_unprepared(&format!(r#"CREATE DATABASE "{}""#, settings.database_name))
        .await
        .unwrap_or_else(|e| panic!("could not create test database {}: {e}", settings.database_name));
    let _ = admin.close().await;
}

/// Fails the test unless Redis answers.
pub async fn require_redis(settings: &RedisSettings) {
    let store = crate::redis_store::RedisStore::connect_lazy(settings).expect("valid Redis URL");
    if let Err(e) = store.ping().await {
        panic!(
            "Redis at {} is not reachable ({e:#}); {START_INFRA}",
            settings.url.expose_secret()
        );
    }
}

/// Creates the system's topics (and dead-letter topics) under the test's prefix.
pub async fn create_topics(settings: &KafkaSettings) {
    let created = tokio::time::timeout(Duration::from_secs(30), ensure_topics(settings, &topics::ALL)).await;
    match created {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "Kafka at {} refused the test topics ({e:#}); {START_INFRA}",
            settings.brokers
        ),
        Err(_) => panic!("Kafka at {} is not reachable; {START_INFRA}", settings.brokers),
    }
}

/// Reads `count` messages of the logical `topic` from the beginning (all partitions, own group),
/// or panics after `timeout`. Returns them in the order received (ordered per partition).
pub async fn read_messages(
    settings: &KafkaSettings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    read_messages_until(settings, topic, timeout, |messages| messages.len() >= count).await
}

/// Reads the logical `topic` from the beginning until `done` holds for what was read, or panics
/// after `timeout`.
pub async fn read_messages_until(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = crate::kafka::base_config(settings)
        .set("group.id", format!("reader_{}", unique_id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    let full = settings.topic(topic);
    consumer.subscribe(&[&full]).expect("subscribe");
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&messages) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => messages.push(message.detach()),
            Ok(Err(e)) => panic!("reading {full} failed: {e}"),
            Err(_) => panic!(
                "{full}: what arrived within {timeout:?} is not what the test waits for ({} messages)",
                messages.len()
            ),
        }
    }
    messages
}

/// Like [`read_messages`], decoding each message as an event envelope.
pub async fn read_events(
    settings: &KafkaSettings,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Envelope> {
    decode_all(&read_messages(settings, topic, count, timeout).await)
}

/// Reads events of `topic` from the beginning until `done` holds for the events read so far
/// (in arrival order, duplicates included), or panics after `timeout`.
pub async fn read_events_until(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut done: impl FnMut(&[Envelope]) -> bool,
) -> Vec<Envelope> {
    let messages =
        read_messages_until(settings, topic, timeout, |messages| done(&decode_all(messages))).await;
    decode_all(&messages)
}

fn decode_all(messages: &[OwnedMessage]) -> Vec<Envelope> {
    messages
        .iter()
        .map(|m| events::decode(m.payload()).expect("a valid envelope"))
        .collect()
}

/// Polls `condition` every 50 ms until it holds, or panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy on 127.0.0.1 that a test can cut and restore, to take one dependency away from
/// one app under test (e.g. its Postgres) while other tests keep using the real server.
pub struct TcpProxy {
    port: u16,
    target: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Starts forwarding a fresh local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Arc<Self> {
        Self::start_on(0, target).await
    }

    /// Like [`TcpProxy::start`] on a fixed local port (0: any free one).
    pub async fn start_on(port: u16, target: &str) -> Arc<Self> {
        let target: SocketAddr = tokio::net::lookup_host(target)
            .await
            .expect("resolvable proxy target")
            .next()
            .expect("an address for the proxy target");
        // The previous test's proxy on this port may still be closing (its task is aborted
        // asynchronously): give it a moment before calling the port taken.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => break listener,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, port, "proxy port busy; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("proxy port {port} is taken ({e})"),
            }
        };
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = Arc::new(Self {
            port,
            target,
            task: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    /// The local port clients should use instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes the port and every open connection: the dependency looks down.
    pub fn cut(&self) {
        if let Some(task) = self.task.lock().expect("proxy lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same port: the dependency is back.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind proxy port");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.task.lock().expect("proxy lock") = Some(task);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The broker's FLAKY listener (see `scripts/infra`): bound on 19092, advertised on 19093.
const FLAKY_KAFKA_LISTENER: &str = "127.0.0.1:19092";
const FLAKY_KAFKA_ADVERTISED_PORT: u16 = 19093;

/// Kafka that one test can cut and restore for its own app only. Point the app's
/// `kafka.brokers` at the returned address. Tests using it run one at a time (the advertised
/// port is fixed), so hold the guard for the whole test.
pub async fn flaky_kafka() -> (Arc<TcpProxy>, String, tokio::sync::MutexGuard<'static, ()>) {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let guard = SERIAL.lock().await;
    let proxy = TcpProxy::start_on(FLAKY_KAFKA_ADVERTISED_PORT, FLAKY_KAFKA_LISTENER).await;
    let brokers = format!("127.0.0.1:{FLAKY_KAFKA_ADVERTISED_PORT}");
    (proxy, brokers, guard)
}

/// Settings for the local infrastructure that `scripts/infra up` starts (the same addresses
/// as the services' `configuration/base.yaml`), for tests of this crate.
pub fn local_settings() -> CommonSettings {
    serde_json::from_value(serde_json::json!({
        "application": {"host": "127.0.0.1", "port": 0},
        "database": {
            "host": "127.0.0.1", "port": 5432, "username": "app", "password": "app",
            "database_name": "unused"
        },
        "redis": {"url": "redis://127.0.0.1:6379", "key_prefix": "unused:"},
        "kafka": {"brokers": "127.0.0.1:9092", "consumer_group": "unused"}
    }))
    .expect("valid local settings")
}

/// Assertions on the operational endpoints every service has (`/health`, `/ready`, `/metrics`).
pub mod ops {
    use super::eventually;
    use crate::http::health::{Need, Needs};
    use serde_json::{json, Value};
    use std::time::Duration;

    async fn get(url: String) -> reqwest::Response {
        reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
    }

    /// `/health` answers 200 `{"status":"ok"}` with an `X-Request-Id`.
    pub async fn assert_health_ok(base: &str) {
        let response = get(format!("{base}/health")).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().contains_key("x-request-id"),
            "no X-Request-Id header"
        );
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    }

    /// `/ready` answers 200 with every dependency the service uses up (and its own checks, if
    /// any), and no check of one it does not use, within a few seconds of start (the revocation
    /// feed reads the recent events first).
    pub async fn assert_ready(base: &str, needs: Needs) {
        let url = format!("{base}/ready");
        eventually("/ready answers 200", Duration::from_secs(20), || async {
            get(url.clone()).await.status() == 200
        })
        .await;
        let response = get(url).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
        let checks = body["checks"].as_object().unwrap();
        for (dependency, need) in dependencies(needs) {
            assert_eq!(
                checks.contains_key(dependency),
                need != Need::Unused,
                "{dependency} ({need:?}) in {body}"
            );
        }
        for (name, check) in checks {
            assert_eq!(check, &json!({"status": "up"}), "{name}: {body}");
        }
    }

    /// The three dependencies with what the service declares of each.
    fn dependencies(needs: Needs) -> [(&'static str, Need); 3] {
        [
            ("postgres", needs.postgres),
            ("redis", needs.redis),
            ("kafka", needs.kafka),
        ]
    }

    /// With `dependency` unreachable, `/ready` says what the service declared: a required one
    /// down → 503 `unavailable` naming it (with an error); an optional one → 200 `degraded`
    /// naming it, unless another check is down too (then 503); an unused one is not checked and
    /// `/ready` stays 200.
    pub async fn assert_reports_down(base: &str, dependency: &str, need: Need) {
        let url = format!("{base}/ready");
        if need == Need::Unused {
            // Long enough for a check to have seen the dependency gone.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let response = get(url).await;
            assert_eq!(response.status(), 200, "{dependency} is not used");
            let body: Value = response.json().await.unwrap();
            assert!(body["checks"].get(dependency).is_none(), "{body}");
            assert_eq!(body["status"], "ready", "{body}");
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let (status, body) = loop {
            let response = get(url.clone()).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            if body["checks"][dependency]["status"] == "down" {
                break (status, body);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/ready never reported {dependency} down: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            body["checks"][dependency]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        let others_down: Vec<&String> = body["checks"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, check)| name.as_str() != dependency && check["status"] == "down")
            .map(|(name, _)| name)
            .collect();
        let expected = if need == Need::Required || !others_down.is_empty() {
            (503, "unavailable")
        } else {
            (200, "degraded")
        };
        assert_eq!(
            (status, body["status"].as_str().unwrap_or_default()),
            expected,
            "{body}"
        );
    }

    /// `/ready` turns 200 again once the dependency is back.
    pub async fn assert_recovers(base: &str) {
        let url = format!("{base}/ready");
        eventually("/ready recovers", Duration::from_secs(30), || async {
            get(url.clone()).await.status() == 200
        })
        .await;
    }

    /// `/metrics` is Prometheus text with the HTTP metrics (route template labels) and process
    /// metrics, labelled with the service name.
    pub async fn assert_metrics_exposed(base: &str, service: &str) {
        get(format!("{base}/health")).await;
        let response = get(format!("{base}/metrics")).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let body = response.text().await.unwrap();
        let labels = ["method=\"GET\"", "route=\"/health\"", "status=\"200\""];
        let service_label = format!("service=\"{service}\"");
        let counted = body.lines().any(|line| {
            line.starts_with("http_requests_total{")
                && line.ends_with(" 1")
                && labels.iter().all(|l| line.contains(l))
                && line.contains(&service_label)
        });
        assert!(
            counted,
            "no http_requests_total for GET /health of {service} in:\n{body}"
        );
        assert!(
            body.contains("process_resident_memory_bytes"),
            "no process metrics in:\n{body}"
        );
        // Any string is a method: odd ones share one label instead of adding series each.
        let client = reqwest::Client::new();
        for method in ["FUZZ1", "FUZZ2", "PROPFIND"] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let _ = client.request(method, format!("{base}/health")).send().await;
        }
        let body = get(format!("{base}/metrics")).await.text().await.unwrap();
        assert!(
            !body.contains("FUZZ1") && !body.contains("PROPFIND"),
            "odd methods became labels"
        );
        assert!(
            body.contains("method=\"OTHER\""),
            "no OTHER method label in:\n{body}"
        );
    }

    /// The `"<method> <path>"` of every operation in the service's OpenAPI document, sorted.
    pub async fn openapi_routes(base: &str) -> Vec<String> {
        let doc: Value = get(format!("{base}/api/v1/openapi.json"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut routes: Vec<String> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .into_iter()
                    .flatten()
                    .map(move |(m, _)| format!("{m} {path}"))
            })
            .collect();
        routes.sort();
        routes
    }

    /// Unknown routes get a problem+json 404.
    pub async fn assert_unknown_route_is_problem_404(base: &str) {
        let response = get(format!("{base}/no/such/route")).await;
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"type": "/problems/not-found", "title": "Not Found", "status": 404, "detail": "No such route."})
        );
    }
}

/// Generates the operational-endpoint tests for a service. `$spawn` is an async fn taking a
/// `FnOnce(&mut CommonSettings)` (applied after isolation) and returning a value with an
/// `address` field (`http://127.0.0.1:<port>`); `$needs` is what the service declares `/ready`
/// should check (its `startup::NEEDS`).
#[macro_export]
macro_rules! operational_endpoint_tests {
    ($service:literal, $spawn:path, $needs:expr) => {
        use $crate::configuration::CommonSettings as __Common;
        use $crate::testing::{ops, TcpProxy};

        #[actix_web::test]
        async fn health_returns_200_with_a_request_id() {
            let app = $spawn(|_: &mut __Common| {}).await;
            ops::assert_health_ok(&app.address).await;
        }

        #[actix_web::test]
        async fn ready_returns_200_when_what_the_service_needs_answers() {
            let app = $spawn(|_: &mut __Common| {}).await;
            ops::assert_ready(&app.address, $needs).await;
        }

        #[actix_web::test]
        async fn ready_reports_postgres_unreachable_as_declared_and_recovers() {
            let proxy = TcpProxy::start("127.0.0.1:5432").await;
            let port = proxy.port();
            let app = $spawn(move |s: &mut __Common| s.database.port = port).await;
            ops::assert_ready(&app.address, $needs).await;
            proxy.cut();
            ops::assert_reports_down(&app.address, "postgres", $needs.postgres).await;
            proxy.restore().await;
            ops::assert_recovers(&app.address).await;
        }

        #[actix_web::test]
        async fn ready_reports_redis_unreachable_as_declared_and_recovers() {
            let proxy = TcpProxy::start("127.0.0.1:6379").await;
            let url = format!("redis://127.0.0.1:{}", proxy.port());
            let app = $spawn(move |s: &mut __Common| s.redis.url = url.into()).await;
            ops::assert_ready(&app.address, $needs).await;
            proxy.cut();
            ops::assert_reports_down(&app.address, "redis", $needs.redis).await;
            proxy.restore().await;
            ops::assert_ready(&app.address, $needs).await;
        }

        #[actix_web::test]
        async fn ready_reports_kafka_unreachable_as_declared() {
            // Port 9 (discard) has no broker: the service still starts and reports it (and, as
            // its revocation feed cannot read, is not ready whatever Kafka's need).
            let app = $spawn(|s: &mut __Common| s.kafka.brokers = "127.0.0.1:9".into()).await;
            ops::assert_reports_down(&app.address, "kafka", $needs.kafka).await;
        }

        #[actix_web::test]
        async fn metrics_exposes_http_and_process_metrics() {
            let app = $spawn(|_: &mut __Common| {}).await;
            ops::assert_metrics_exposed(&app.address, $service).await;
        }

        #[actix_web::test]
        async fn unknown_routes_return_a_problem_json_404() {
            let app = $spawn(|_: &mut __Common| {}).await;
            ops::assert_unknown_route_is_problem_404(&app.address).await;
        }
    };
}

/// For property tests (plain `#[test]` functions): runs `start` on an actix system in a thread
/// of its own that lives as long as the test process, and returns what it produced together
/// with a tokio runtime for driving requests from the test thread.
pub fn start_in_background<T, F, Fut>(start: F) -> (T, tokio::runtime::Runtime)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            tx.send(start().await).expect("the test thread waits");
            std::future::pending::<()>().await;
        })
    });
    let value = rx.recv().expect("the background app starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    (value, runtime)
}

/// A service binary started with a test's isolated settings (database, topics, group, Redis
/// prefix, a free port); killed with SIGKILL when dropped.
pub struct ServiceProcess {
    child: std::process::Child,
    port: u16,
}

impl ServiceProcess {
    /// Starts `binary` (e.g. `env!("CARGO_BIN_EXE_recommender")`) with `settings` and extra
    /// `APP_*` variables.
    pub fn start(binary: &str, settings: &CommonSettings, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = std::process::Command::new(binary);
        command
            .env("APP_APPLICATION__PORT", port.to_string())
            .env("APP_DATABASE__DATABASE_NAME", &settings.database.database_name)
            .env("APP_REDIS__KEY_PREFIX", &settings.redis.key_prefix)
            .env("APP_KAFKA__TOPIC_PREFIX", &settings.kafka.topic_prefix)
            .env("APP_KAFKA__CONSUMER_GROUP", &settings.kafka.consumer_group)
            .env("APP_KAFKA__PARTITIONS", settings.kafka.partitions.to_string())
            .env("APP_KAFKA__SESSION_TIMEOUT_MS", "6000")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (key, value) in extra {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} does not start: {e}"));
        Self { child, port }
    }

    /// The HTTP port the service listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until `/ready` answers 200.
    pub async fn wait_ready(&self) {
        let url = format!("http://127.0.0.1:{}/ready", self.port);
        eventually("the service binary is ready", Duration::from_secs(60), || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// SIGKILL: no flush, no commit, no goodbye to the consumer group.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sum of the stored next offsets of every partition (how many messages flushes covered).
pub async fn flushed_offsets(db: &sea_orm::DatabaseConnection) -> i64 {
    let sql = "SELECT COALESCE(SUM(next_offset), 0)::bigint AS total FROM partition_offsets";
    let row = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            sql.to_owned(),
        ))
        .await;
    row.ok()
        .flatten()
        .and_then(|r| r.try_get::<i64>("", "total").ok())
        .unwrap_or(0)
}

/// The four service binaries on one isolated set of infrastructure: they share a topic prefix
/// (they talk through Kafka) and each has its own database, consumer group and Redis prefix.
/// Services can be killed, restarted and scaled out while a test runs. Used by the whole-system
/// tests (debug binaries) and the live replay (release binaries).
pub mod system {
    use std::path::{Path, PathBuf};

    use super::{create_database, isolate, local_settings, ServiceProcess};
    use crate::configuration::CommonSettings;

    /// The services, in start order.
    pub const SERVICES: [&str; 4] = ["users", "products", "recommender", "analytics"];

    /// One service: how to start it and its running instances (the first one is `root`).
    struct Service {
        binary: PathBuf,
        settings: CommonSettings,
        env: Vec<(String, String)>,
        instances: Vec<ServiceProcess>,
    }

    impl Service {
        async fn start_instance(&mut self) -> String {
            let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let process = ServiceProcess::start(&self.binary.display().to_string(), &self.settings, &env);
            process.wait_ready().await;
            let root = format!("http://127.0.0.1:{}", process.port());
            self.instances.push(process);
            root
        }
    }

    /// The running services.
    pub struct ServiceSet {
        services: Vec<Service>,
        roots: Vec<String>,
    }

    fn index(name: &str) -> usize {
        SERVICES
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    impl ServiceSet {
        /// Starts the binaries found in `binaries` (e.g. `target/debug`) one after the other,
        /// each ready before the next; `tune(name, env)` may add `APP_*` variables for a service
        /// (e.g. to route its Kafka, Postgres or Redis through a proxy the test can cut). Flushes
        /// run every 200 ms unless tuned otherwise.
        pub async fn start(binaries: &Path, tune: impl Fn(&str, &mut Vec<(String, String)>)) -> Self {
            let mut base = local_settings();
            isolate(&mut base).await;
            let mut services = Vec::new();
            let mut roots = Vec::new();
            for name in SERVICES {
                let binary = binaries.join(name);
                assert!(
                    binary.exists(),
                    "{} is missing: build the services first (`cargo build --bins`, scripts/test does)",
                    binary.display()
                );
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
                    binary,
                    settings,
                    env,
                    instances: Vec::new(),
                };
                roots.push(service.start_instance().await);
                services.push(service);
            }
            Self { services, roots }
        }

        /// `http://127.0.0.1:<port>` of the service's first running instance.
        pub fn root(&self, name: &str) -> &str {
            &self.roots[index(name)]
        }

        /// The service's API base, `<root>/api/v1`.
        pub fn api(&self, name: &str) -> String {
            format!("{}/api/v1", self.root(name))
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

        /// Starts one more instance of a service (same group, same database) and waits until
        /// it is ready; the first running instance keeps serving the service's `root`.
        pub async fn start_instance(&mut self, name: &str) {
            let i = index(name);
            let root = self.services[i].start_instance().await;
            if self.services[i].instances.len() == 1 {
                self.roots[i] = root;
            }
        }
    }
}
