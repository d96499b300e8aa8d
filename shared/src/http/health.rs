//! `GET /health` (liveness), `GET /ready` (dependencies) and `GET /metrics` (Prometheus).
use std::time::Duration;

use actix_web::{web, HttpResponse};
use prometheus::{Encoder, Registry, TextEncoder};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::json;

use crate::kafka::producer::EventProducer;
use crate::redis_store::RedisStore;

/// The dependencies `/ready` checks.
#[derive(Clone)]
pub struct Readiness {
    pub db: DatabaseConnection,
    pub redis: RedisStore,
    pub kafka: EventProducer,
    /// Longest a single check may take before it counts as down.
    pub timeout: Duration,
    /// The service's own conditions (e.g. its replica applying), by name: `Err(reason)` is down.
    pub own: Vec<(&'static str, OwnCheck)>,
}

/// A condition of the service itself, checked without I/O.
pub type OwnCheck = std::sync::Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The state of one dependency.
#[derive(Debug, Serialize)]
pub struct Check {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    /// Runs all checks concurrently; `true` when every dependency answered.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let (postgres, redis, kafka) = tokio::join!(
            self.run(async { self.db.ping().await.map_err(anyhow::Error::from) }),
            self.run(self.redis.ping()),
            self.run(self.kafka.ping(self.timeout)),
        );
        let mut ready = [&postgres, &redis, &kafka].iter().all(|c| c.error.is_none());
        let mut checks = json!({ "postgres": postgres, "redis": redis, "kafka": kafka });
        for (name, check) in &self.own {
            let error = check().err();
            ready &= error.is_none();
            let check = Check {
                status: if error.is_none() { "up" } else { "down" },
                error,
            };
            checks[*name] = json!(check);
        }
        let body = json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": checks,
        });
        (ready, body)
    }

    async fn run(&self, probe: impl std::future::Future<Output = anyhow::Result<()>>) -> Check {
        let error = match tokio::time::timeout(self.timeout, probe).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{e:#}")),
            Err(_) => Some(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        Check {
            status: if error.is_none() { "up" } else { "down" },
            error,
        }
    }
}

/// Liveness: the process serves HTTP. Never touches dependencies.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 when Postgres, Redis and Kafka all answer, else 503 naming the ones down.
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let (ready, body) = readiness.check().await;
    if !ready {
        tracing::warn!(checks = %body, "not ready");
    }
    let mut response = if ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response.json(body)
}

/// Prometheus text exposition of the app's registry.
pub async fn metrics(registry: web::Data<Registry>) -> HttpResponse {
    let mut buffer = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&registry.gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok()
            .content_type(encoder.format_type())
            .body(buffer),
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, "failed to encode metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Mounts the three endpoints at the root of the app.
pub fn config_health_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)))
        .service(web::resource("/ready").route(web::get().to(ready)))
        .service(web::resource("/metrics").route(web::get().to(metrics)));
}
