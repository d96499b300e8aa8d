//! `GET /health` (liveness), `GET /ready` (dependencies) and `GET /metrics` (Prometheus).
use std::time::Duration;

use actix_web::{web, HttpResponse};
use futures_util::future::BoxFuture;
use prometheus::{Encoder, Registry, TextEncoder};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::json;

use crate::kafka::producer::EventProducer;
use crate::redis_store::RedisStore;

/// How much a service needs a dependency in order to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Down: the service cannot serve, `/ready` answers 503.
    Required,
    /// Down: the service serves in a degraded way (e.g. from Postgres instead of a cache, or
    /// with events delayed); `/ready` still answers 200, with status `degraded`.
    Optional,
    /// Not used: not checked.
    Unused,
}

/// What a service declares it needs (see each service's `startup::NEEDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub postgres: Need,
    pub redis: Need,
    pub kafka: Need,
}

/// A dependency check: `Ok` when the dependency answers.
pub type ProbeFn = std::sync::Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// One dependency `/ready` checks, by name, and how much the service needs it.
#[derive(Clone)]
pub struct Probe {
    pub name: &'static str,
    pub need: Need,
    pub check: ProbeFn,
}

impl Probe {
    /// The checks of Postgres, Redis and Kafka that `needs` uses (unused ones are left out).
    pub fn infrastructure(
        needs: Needs,
        db: DatabaseConnection,
        redis: RedisStore,
        kafka: EventProducer,
        timeout: Duration,
    ) -> Vec<Self> {
        let postgres: ProbeFn = std::sync::Arc::new(move || {
            let db = db.clone();
            Box::pin(async move { db.ping().await.map_err(anyhow::Error::from) })
        });
        let redis: ProbeFn = std::sync::Arc::new(move || {
            let redis = redis.clone();
            Box::pin(async move { redis.ping().await })
        });
        let kafka: ProbeFn = std::sync::Arc::new(move || {
            let kafka = kafka.clone();
            Box::pin(async move { kafka.ping(timeout).await })
        });
        [
            ("postgres", needs.postgres, postgres),
            ("redis", needs.redis, redis),
            ("kafka", needs.kafka, kafka),
        ]
        .into_iter()
        .filter(|(_, need, _)| *need != Need::Unused)
        .map(|(name, need, check)| Self { name, need, check })
        .collect()
    }
}

/// What `/ready` checks: dependencies and the service's own conditions.
#[derive(Clone)]
pub struct Readiness {
    pub probes: Vec<Probe>,
    /// Longest a single check may take before it counts as down.
    pub timeout: Duration,
    /// The service's own conditions (e.g. its replica applying), by name: `Err(reason)` is down.
    pub own: Vec<(&'static str, OwnCheck)>,
}

/// A service's own readiness condition.
pub type OwnCheck = std::sync::Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// One check's result in the `/ready` body.
#[derive(Debug, Serialize)]
pub struct Check {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    /// Runs the probes concurrently: `true` when every required one answered and the
    /// service's own conditions hold; the body names each check and says `ready`, `degraded`
    /// (an optional dependency is down) or `unavailable`.
    pub async fn check(&self) -> (bool, serde_json::Value) {
        let results = futures_util::future::join_all(self.probes.iter().map(|p| self.run((p.check)()))).await;
        let mut ready = true;
        let mut degraded = false;
        let mut checks = json!({});
        for (probe, check) in self.probes.iter().zip(results) {
            if check.error.is_some() {
                match probe.need {
                    Need::Required => ready = false,
                    Need::Optional | Need::Unused => degraded = true,
                }
            }
            checks[probe.name] = json!(check);
        }
        for (name, check) in &self.own {
            let error = check().err();
            ready &= error.is_none();
            let check = Check {
                status: if error.is_none() { "up" } else { "down" },
                error,
            };
            checks[*name] = json!(check);
        }
        let status = match (ready, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ready",
        };
        (ready, json!({ "status": status, "checks": checks }))
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

/// Readiness: 200 when every required dependency answers (status `degraded` when an optional
/// one does not), else 503; the body names each check.
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let (ready, body) = readiness.check().await;
    if !ready {
        tracing::warn!(checks = %body, "not ready");
    } else if body["status"] == "degraded" {
        tracing::warn!(checks = %body, "ready, degraded");
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
