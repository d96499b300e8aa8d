//! Builds the products service from its settings and runs it until SIGTERM.
use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use shared::auth::Authenticator;
use shared::outbox::OutboxHandle;
use shared::service::Infrastructure;

use crate::configuration::Settings;
use crate::migration::Migrator;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "products";

/// A built service, listening but not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    infra: Infrastructure,
    outbox: OutboxHandle,
}

impl Application {
    /// Connects to its dependencies, migrates, starts the outbox relay and binds its port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let infra = Infrastructure::connect::<Migrator>(SERVICE, &settings.common).await?;
        let auth = Authenticator::new(&settings.auth).context("Invalid auth settings")?;
        let outbox = infra.start_outbox(&settings.outbox)?;
        let state = web::Data::new(AppState {
            db: infra.db.clone(),
            outbox: outbox.clone(),
        });
        let routes = routes::configure(state, web::Data::new(auth));
        let (server, port) = shared::http::server::serve(
            &settings.common.application,
            infra.server_parts(),
            routes,
            SERVICE,
        )?;
        Ok(Self {
            port,
            server,
            infra,
            outbox,
        })
    }

    /// The bound port (useful when the configured port is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then drains requests, stops the relay and flushes Kafka.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        self.outbox.shutdown().await;
        self.infra.flush();
        tracing::info!("products stopped");
        Ok(())
    }
}
