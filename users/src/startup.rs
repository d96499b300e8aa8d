//! Builds the users service from its settings and runs it until SIGTERM.
use std::net::TcpListener;

use actix_web::dev::Server;
use anyhow::Context;
use shared::service::Infrastructure;

use crate::configuration::Settings;
use crate::migration::Migrator;
use crate::routes;

/// Service name in logs and metrics.
pub const SERVICE: &str = "users";

/// A built service, listening but not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    infra: Infrastructure,
}

impl Application {
    /// Connects to its dependencies, migrates its database and binds its port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let infra = Infrastructure::connect::<Migrator>(SERVICE, &settings.common).await?;
        let app = &settings.common.application;
        let listener = TcpListener::bind((app.host.as_str(), app.port))
            .with_context(|| format!("Failed to bind {}:{}", app.host, app.port))?;
        let port = listener.local_addr()?.port();
        let server = shared::http::server::build(listener, app, infra.server_parts(), routes::configure)?;
        tracing::info!(port, "users listening");
        Ok(Self { port, server, infra })
    }

    /// The bound port (useful when the configured port is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains requests and flushes Kafka.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        self.infra.flush();
        tracing::info!("users stopped");
        Ok(())
    }
}
