//! The HTTP server every service runs: same middleware, error envelope and operational routes.
use std::net::TcpListener;

use anyhow::Context;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use super::health::{config_health_api, Readiness};
use super::json::JsonLimit;
use super::middleware::{problem_responses, record_metrics, request_id_header, RootSpan, TrustedProxies};
use super::problem::{json_error, not_found, path_error, query_error};
use crate::configuration::ApplicationSettings;
use crate::metrics::HttpMetrics;

/// What every app shares; services add their own routes and data through `routes`.
pub struct ServerParts {
    pub readiness: Readiness,
    pub registry: prometheus::Registry,
    pub http_metrics: HttpMetrics,
}

/// Builds (but does not await) the server on `listener`. `routes` is called once per worker.
pub fn build<F>(
    listener: TcpListener,
    settings: &ApplicationSettings,
    parts: ServerParts,
    routes: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let readiness = web::Data::new(parts.readiness);
    let registry = web::Data::new(parts.registry);
    let http_metrics = web::Data::new(parts.http_metrics);
    let json_limit = settings.json_limit_bytes;
    let trusted =
        web::Data::new(TrustedProxies(settings.trusted_proxies().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
        })?));
    let mut server = HttpServer::new(move || {
        App::new()
            // Runs innermost-first: metrics and the request-id header see the TracingLogger span.
            .wrap(from_fn(problem_responses))
            .wrap(from_fn(request_id_header))
            .wrap(from_fn(record_metrics))
            .wrap(TracingLogger::<RootSpan>::new())
            .app_data(
                web::JsonConfig::default()
                    .limit(json_limit)
                    .error_handler(json_error),
            )
            .app_data(web::PayloadConfig::new(json_limit))
            .app_data(JsonLimit(json_limit))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(readiness.clone())
            .app_data(registry.clone())
            .app_data(http_metrics.clone())
            .app_data(trusted.clone())
            .configure(config_health_api)
            .configure(routes.clone())
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(settings.shutdown_timeout_seconds)
    .listen(listener)?;
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok(server.run())
}

/// Binds the configured address and builds the server on it; returns the server and the bound
/// port (the configured one, or the one the OS chose for port 0).
pub fn serve<F>(
    settings: &ApplicationSettings,
    parts: ServerParts,
    routes: F,
    service: &str,
) -> anyhow::Result<(Server, u16)>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let listener = TcpListener::bind((settings.host.as_str(), settings.port))
        .with_context(|| format!("Failed to bind {}:{}", settings.host, settings.port))?;
    let port = listener.local_addr()?.port();
    let server = build(listener, settings, parts, routes)?;
    tracing::info!(port, service, "listening");
    Ok((server, port))
}

/// How long `/ready` waits for each dependency.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);
