//! Builds the recommender from its settings and runs it until SIGTERM.
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use shared::auth::RevocationFeed;
use shared::events::topics;
use shared::kafka::consumer::{ConsumerHandle, ConsumerSpec};
use shared::metrics::PipelineMetrics;
use shared::pipeline::PipelineHandle;
use shared::service::Infrastructure;
use uuid::Uuid;

use crate::cache::{ListCache, Recent};
use crate::catalogue::Catalogue;
use crate::configuration::Settings;
use crate::consumers::actions::Actions;
use crate::consumers::catalogue::CatalogueUpdater;
use crate::metrics::RecommenderMetrics;
use crate::migration::Migrator;
use crate::recommend::RankingCache;
use crate::refresh::Refresher;
use crate::replication::SharedReplica;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "recommender";

/// The user_actions pipeline's handle.
pub type RouterHandle = PipelineHandle<Actions>;

/// A built service, listening and consuming.
pub struct Application {
    port: u16,
    server: Server,
    infra: Infrastructure,
    router: RouterHandle,
    replica: SharedReplica,
    consumers: Vec<ConsumerHandle>,
    /// Keeps the revocations current while the service runs.
    _revocations: RevocationFeed,
}

impl Application {
    /// Connects, migrates, loads the catalogue, starts the consumers and binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        shared::secrets::Findings::default()
            .common(&settings.common)
            .auth(&settings.auth)
            .enforce(&shared::secrets::environment())?;
        let infra = Infrastructure::connect::<Migrator>(SERVICE, &settings.common).await?;
        let (auth, revocations) = infra.start_auth(&settings.auth, &settings.common)?;
        let metrics = RecommenderMetrics::new(&infra.registry)?;
        let catalogue = Catalogue::load(infra.db.clone())
            .await
            .context("Failed to load the catalogue")?;
        let recommender = Arc::new(settings.recommender.clone());
        let cache = ListCache::new(
            infra.redis.clone(),
            recommender.cache_ttl_seconds,
            recommender.local_cache_capacity,
            metrics.clone(),
        );
        if recommender.local_cache_capacity > 0 {
            cache.start_listener();
        }
        let replica = SharedReplica::restore(
            infra.db.clone(),
            recommender.model.clone(),
            metrics.replica.clone(),
        )
        .await
        .context("Failed to restore the model state")?;
        replica.start_sync(Duration::from_millis(recommender.replica_poll_ms));
        replica.start_checkpointer(
            Duration::from_secs(recommender.snapshot_interval_seconds),
            Duration::from_secs(recommender.delta_retention_seconds),
        );
        let rankings = RankingCache::new(&recommender.model);
        let refresher = Refresher {
            db: infra.db.clone(),
            catalogue: catalogue.clone(),
            cache: cache.clone(),
            replica: replica.clone(),
            rankings: rankings.clone(),
            settings: recommender.clone(),
        };
        let actions = Actions {
            db: infra.db.clone(),
            cache,
            replica: replica.clone(),
            rankings,
            catalogue,
            settings: recommender,
            metrics: metrics.clone(),
        };
        let router = RouterHandle::start(actions, PipelineMetrics::new(&infra.registry)?);
        crate::refresh::start_sweeper(refresher.clone(), metrics.stale_lists_rebuilt.clone());
        let consumers = start_consumers(&settings, &infra, &router, refresher.clone())?;
        // Shared answers live one flush interval, at most a second (flushes are also triggered
        // by rebalances and shutdowns, and intervals may be configured long).
        let shared_for = Duration::from_millis(settings.recommender.flush_interval_ms.min(1000));
        let state = web::Data::new(AppState {
            refresher,
            metrics,
            cold: Recent::new(10_000, shared_for),
            similar: Recent::new(100_000, shared_for),
            answers: crate::cache::Answers::new(settings.recommender.local_cache_capacity),
        });
        let routes = routes::configure(state, auth);
        let mut parts = infra.server_parts();
        let checked = replica.clone();
        parts
            .readiness
            .own
            .push(("replica", Arc::new(move || checked.check())));
        parts.readiness.own.push(("revocations", revocations.check()));
        let (server, port) =
            shared::http::server::serve(&settings.common.application, parts, routes, SERVICE)?;
        Ok(Self {
            port,
            server,
            infra,
            router,
            replica,
            consumers,
            _revocations: revocations,
        })
    }

    /// The bound port (useful when the configured port is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to flush every partition now (tests, operations).
    pub fn router(&self) -> RouterHandle {
        self.router.clone()
    }

    /// The model state replica (tests, operations).
    pub fn replica(&self) -> SharedReplica {
        self.replica.clone()
    }

    /// Serves until SIGTERM/SIGINT; then flushes what was consumed and stops consuming.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        if let Err(e) = self.router.flush_all().await {
            tracing::error!(error = %e, "final flush failed; the next start resumes from the stored offsets");
        }
        for consumer in &self.consumers {
            consumer.shutdown().await;
        }
        self.infra.flush();
        tracing::info!("recommender stopped");
        Ok(())
    }
}

/// The actions consumer (group `kafka.consumer_group`, partitions split between instances,
/// offsets stored by the pipeline after each flush) and the catalogue consumer (a group of its
/// own per instance: every instance reads every catalogue and profile event).
fn start_consumers(
    settings: &Settings,
    infra: &Infrastructure,
    router: &RouterHandle,
    refresher: Refresher,
) -> anyhow::Result<Vec<ConsumerHandle>> {
    let kafka = &settings.common.kafka;
    let actions = ConsumerSpec::batching(
        &[topics::USER_ACTIONS],
        kafka.consumer_group.clone(),
        router.recipient(),
        router.revoke_hook(),
    );
    let actions = ConsumerHandle::start(
        kafka,
        actions,
        infra.producer.clone(),
        infra.consumer_metrics.clone(),
    )?;
    router.attach(&actions);
    let updater = CatalogueUpdater {
        refresher,
        router: router.clone(),
    }
    .start();
    let group = format!("{}-catalogue-{}", kafka.consumer_group, Uuid::new_v4().simple());
    let spec = ConsumerSpec::new(
        &[topics::PRODUCT_UPDATES, topics::USER_UPDATES],
        group,
        updater.recipient(),
    );
    let catalogue = ConsumerHandle::start(
        kafka,
        spec,
        infra.producer.clone(),
        infra.consumer_metrics.clone(),
    )?;
    Ok(vec![actions, catalogue])
}
