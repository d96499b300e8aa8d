//! Builds the products service from its settings and runs it until SIGTERM.
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use shared::auth::RevocationFeed;
use shared::events::topics;
use shared::http::health::{Need, Needs};
use shared::kafka::feed::TopicFeed;
use shared::outbox::OutboxHandle;
use shared::secrets::Findings;
use shared::service::{Infrastructure, Started};
use uuid::Uuid;

use crate::configuration::Settings;
use crate::domain::catalogue::Catalogue;
use crate::migration::Migrator;
use crate::repository::cached::ProductCache;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "products";

/// What `/ready` checks. Kafka is optional: writes go on without it (their events wait in the
/// outbox).
pub const NEEDS: Needs = Needs {
    postgres: Need::Required,
    redis: Need::Unused,
    kafka: Need::Optional,
};

/// A built service, listening but not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    infra: Infrastructure,
    outbox: OutboxHandle,
    /// Keeps the revocations current while the service runs.
    _revocations: RevocationFeed,
    /// Forgets cached products changed through other replicas.
    _changes: TopicFeed,
}

impl Application {
    /// Connects to its dependencies, migrates, starts the outbox relay and binds its port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let Started {
            infra,
            auth,
            revocations,
        } = Infrastructure::start::<Migrator>(SERVICE, &settings.common, &settings.auth, Findings::default())
            .await?;
        let outbox = infra.start_outbox(&settings.outbox)?;
        let cache = Arc::new(ProductCache::new(
            settings.products.read_cache_capacity,
            Duration::from_millis(settings.products.read_cache_ttl_ms),
            &infra.registry,
        )?);
        let changes = forget_changed_products(&settings, cache.clone())?;
        let state = web::Data::new(AppState {
            db: infra.db.clone(),
            catalogue: Catalogue::new(infra.db.clone(), outbox.clone(), cache.clone()),
            cache,
        });
        let routes = routes::configure(state, auth);
        let mut parts = infra.server_parts(NEEDS);
        parts.readiness.own.push(("revocations", revocations.check()));
        let (server, port) =
            shared::http::server::serve(&settings.common.application, parts, routes, SERVICE)?;
        Ok(Self {
            port,
            server,
            infra,
            outbox,
            _revocations: revocations,
            _changes: changes,
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

/// Follows `product_updates` from now on: every product event (from any replica, this one
/// included) makes the cache forget that product, so a write through another replica is seen
/// here as soon as its event is published (the cache's TTL only bounds a feed that is behind).
fn forget_changed_products(settings: &Settings, cache: Arc<ProductCache>) -> anyhow::Result<TopicFeed> {
    TopicFeed::start(
        &settings.common.kafka,
        topics::PRODUCT_UPDATES,
        "product-cache",
        Duration::ZERO,
        move |payload| {
            let event = shared::events::decode_as::<serde::de::IgnoredAny>(Some(payload))?;
            cache.forget(event.key.parse::<Uuid>()?);
            Ok(())
        },
    )
}
