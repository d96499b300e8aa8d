//! Builds the console: the services' client, the metrics history, and the HTTP server.
use actix_web::dev::Server;
use actix_web::web;
use secrecy::ExposeSecret;
use shared::http::health::{Need, Probe, ProbeFn, Readiness};
use shared::http::server::{ServerParts, READY_TIMEOUT};
use shared::metrics::{new_registry, HttpMetrics};
use shared::secrets::Findings;

use crate::configuration::Settings;
use crate::repository::metrics::MetricsSource;
use crate::repository::services::{Service, Services};
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "console";

/// How much the console needs each service in order to serve: without users nobody signs
/// in; without any other, its pages say which part is missing.
pub fn need_of(service: Service) -> Need {
    match service {
        Service::Users => Need::Required,
        Service::Products | Service::Recommender | Service::Analytics => Need::Optional,
    }
}

/// A built console, listening.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Checks its secrets, starts the metrics history and binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let console = &settings.console;
        let environment = shared::secrets::environment();
        if environment == "production" && !console.secure_cookies {
            anyhow::bail!(
                "console.secure_cookies must be true in production (session cookies only over HTTPS)"
            );
        }
        let mut findings = Findings::default();
        if !console.ingest_key.expose_secret().is_empty() {
            findings.keys("console.ingest_key", &console.ingest_key);
        }
        findings.enforce(&environment)?;
        let services = Services::new(console)?;
        let metrics = MetricsSource::start(
            services.clone(),
            &console.prometheus_url,
            console.sample_interval(),
            console.history_samples(),
            console.history_minutes,
        )?;
        let registry = new_registry(SERVICE)?;
        let parts = ServerParts {
            readiness: Readiness {
                probes: Service::ALL.iter().map(|s| probe(&services, *s)).collect(),
                timeout: READY_TIMEOUT,
                own: Vec::new(),
            },
            http_metrics: HttpMetrics::new(&registry)?,
            registry,
        };
        let state = web::Data::new(AppState {
            services,
            metrics,
            settings: console.clone(),
        });
        let routes = move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone()).configure(routes::config);
        };
        let (server, port) = shared::http::server::serve(&settings.application, parts, routes, SERVICE)?;
        Ok(Self { port, server })
    }

    /// The bound port (useful when the configured port is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        tracing::info!("console stopped");
        Ok(())
    }
}

/// `/ready`'s check of one service: its `/health` answers.
fn probe(services: &Services, service: Service) -> Probe {
    let services = services.clone();
    let check: ProbeFn = std::sync::Arc::new(move || {
        let services = services.clone();
        Box::pin(async move { services.alive(service).await.map_err(anyhow::Error::from) })
    });
    Probe {
        name: service.name(),
        need: need_of(service),
        check,
    }
}
