//! Builds the analytics service from its settings and runs it until SIGTERM.
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::web;
use shared::auth::RevocationFeed;
use shared::events::topics;
use shared::http::health::{Need, Needs};
use shared::kafka::consumer::{ConsumerHandle, ConsumerSpec};
use shared::metrics::PipelineMetrics;
use shared::pipeline::PipelineHandle;
use shared::secrets::Findings;
use shared::service::{Infrastructure, Started};

use crate::cache::AnswerCache;
use crate::configuration::Settings;
use crate::consumers::Statistics;
use crate::metrics::AnalyticsMetrics;
use crate::migration::Migrator;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "analytics";

/// What `/ready` checks. Redis and Kafka are optional: without Redis answers come from
/// Postgres; without Kafka they are served but stop changing.
pub const NEEDS: Needs = Needs {
    postgres: Need::Required,
    redis: Need::Optional,
    kafka: Need::Optional,
};

/// The statistics pipeline's handle.
pub type RouterHandle = PipelineHandle<Statistics>;

/// A built service, listening and consuming.
pub struct Application {
    port: u16,
    server: Server,
    infra: Infrastructure,
    router: RouterHandle,
    consumer: ConsumerHandle,
    /// Keeps the revocations current while the service runs.
    _revocations: RevocationFeed,
}

impl Application {
    /// Connects, migrates, starts the consumer (group `kafka.consumer_group`, every topic) and
    /// binds the port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let Started {
            infra,
            auth,
            revocations,
        } = Infrastructure::start::<Migrator>(SERVICE, &settings.common, &settings.auth, Findings::default())
            .await?;
        let cache = AnswerCache::new(infra.redis.clone(), settings.analytics.cache_ttl_seconds);
        let statistics = Statistics {
            db: infra.db.clone(),
            cache: cache.clone(),
            metrics: AnalyticsMetrics::new(&infra.registry)?,
            flush_interval: Duration::from_millis(settings.analytics.flush_interval_ms),
            max_buffered: settings.analytics.max_buffered_events,
            raw_retention_days: settings.analytics.raw_retention_days,
            bucket_retention_days: settings.analytics.bucket_retention_days,
            processed_retention_hours: settings.analytics.processed_event_retention_hours,
        };
        let router = RouterHandle::start(statistics, PipelineMetrics::new(&infra.registry)?);
        let kafka = &settings.common.kafka;
        let spec = ConsumerSpec::batching(
            &topics::ALL,
            kafka.consumer_group.clone(),
            router.recipient(),
            router.revoke_hook(),
        );
        let consumer = ConsumerHandle::start(
            kafka,
            spec,
            infra.producer.clone(),
            infra.consumer_metrics.clone(),
        )?;
        router.attach(&consumer);
        let state = web::Data::new(AppState {
            db: infra.db.clone(),
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
            router,
            consumer,
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

    /// Serves until SIGTERM/SIGINT; then flushes what was consumed and stops consuming.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        // Nothing is consumed after the final flush: what it stores is all there is.
        self.consumer.stop_fetching().await;
        if let Err(e) = self.router.flush_all().await {
            tracing::error!(error = %e, "final flush failed; the next start resumes from the stored offsets");
        }
        self.consumer.shutdown().await;
        self.infra.flush();
        tracing::info!("analytics stopped");
        Ok(())
    }
}
