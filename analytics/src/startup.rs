//! Builds the analytics service from its settings and runs it until SIGTERM.
use actix_web::dev::Server;
use shared::service::Infrastructure;

use crate::configuration::Settings;
use crate::migration::Migrator;
use crate::routes;

/// Service name in logs and metrics.
pub const SERVICE: &str = "analytics";

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
        let (server, port) = shared::http::server::serve(
            &settings.common.application,
            infra.server_parts(),
            routes::configure,
            SERVICE,
        )?;
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
        tracing::info!("analytics stopped");
        Ok(())
    }
}
