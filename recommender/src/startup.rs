//! Builds the recommender from its settings and runs it until SIGTERM.
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use shared::auth::RevocationFeed;
use shared::configuration::KafkaSettings;
use shared::events::topics;
use shared::http::health::{Need, Needs};
use shared::kafka::consumer::{ConsumerHandle, ConsumerSpec};
use shared::metrics::PipelineMetrics;
use shared::pipeline::PipelineHandle;
use shared::secrets::Findings;
use shared::service::{Infrastructure, Started};
use uuid::Uuid;

use crate::configuration::Settings;
use crate::consumers::actions::Actions;
use crate::consumers::catalogue::CatalogueUpdater;
use crate::domain::builder::RankingCache;
use crate::domain::catalogue::Catalogue;
use crate::domain::recommendations::Recommendations;
use crate::domain::refresh::Refresher;
use crate::metrics::RecommenderMetrics;
use crate::migration::Migrator;
use crate::replication::SharedReplica;
use crate::repository::cache::ListCache;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "recommender";

/// What `/ready` checks. Redis and Kafka are optional: without Redis lists come from memory and
/// Postgres; without Kafka lists are served but stop changing.
pub const NEEDS: Needs = Needs {
    postgres: Need::Required,
    redis: Need::Optional,
    kafka: Need::Optional,
};

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
        let Started {
            infra,
            auth,
            revocations,
        } = Infrastructure::start::<Migrator>(SERVICE, &settings.common, &settings.auth, Findings::default())
            .await?;
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
        crate::domain::refresh::start_sweeper(refresher.clone(), metrics.stale_lists_rebuilt.clone());
        let consumers = start_consumers(&settings, &infra, &router, refresher.clone())?;
        // Shared answers live one flush interval, at most a second (flushes are also triggered
        // by rebalances and shutdowns, and intervals may be configured long).
        let shared_for = Duration::from_millis(settings.recommender.flush_interval_ms.min(1000));
        let state = web::Data::new(AppState {
            recommendations: Recommendations::new(refresher, metrics, shared_for),
        });
        let routes = routes::configure(state, auth);
        let mut parts = infra.server_parts(NEEDS);
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

    /// Serves until SIGTERM/SIGINT; then stops fetching, flushes what was consumed (storing its
    /// offsets) and leaves the groups.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        for consumer in &self.consumers {
            consumer.stop_fetching().await;
        }
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
/// own per instance, see [`catalogue_group`]).
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
    let spec = ConsumerSpec::new(
        &[topics::PRODUCT_UPDATES, topics::USER_UPDATES],
        catalogue_group(kafka),
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

/// The catalogue consumer's group. Every instance reads every catalogue and profile event, so
/// each has a group of its own: `<consumer_group>-catalogue-<group_instance_id>`, stable across
/// the instance's restarts, which resume where they stopped. Without `kafka.group_instance_id`
/// each start gets a new group, reads both topics from the start again (idempotently: versions
/// guard every write) and leaves an empty group behind, which Kafka deletes after
/// `offsets.retention.minutes` (7 days by default).
pub fn catalogue_group(kafka: &KafkaSettings) -> String {
    let instance = match kafka.group_instance_id.trim() {
        "" => Uuid::new_v4().simple().to_string(),
        stable => stable.to_owned(),
    };
    format!("{}-catalogue-{instance}", kafka.consumer_group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_group_is_stable_with_an_instance_id_and_unique_without() {
        let mut kafka = shared::testing::local_settings().kafka;
        kafka.consumer_group = "recommender".into();
        kafka.group_instance_id = "recommender@host-1".into();
        assert_eq!(
            catalogue_group(&kafka),
            "recommender-catalogue-recommender@host-1"
        );
        assert_eq!(catalogue_group(&kafka), catalogue_group(&kafka));
        kafka.group_instance_id = String::new();
        assert_ne!(catalogue_group(&kafka), catalogue_group(&kafka));
    }
}
