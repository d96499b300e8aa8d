//! Assertions on the operational endpoints every service has (`/health`, `/ready`, `/metrics`).
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
