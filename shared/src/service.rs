//! What every service connects to at start-up, built the same way everywhere.
use std::time::Duration;

use anyhow::Context;
use prometheus::Registry;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::auth::{AuthSettings, Authenticator, RevocationFeed};
use crate::configuration::CommonSettings;
use crate::db;
use crate::events::topics;
use crate::http::health::{Needs, Probe, Readiness};
use crate::http::server::{ServerParts, READY_TIMEOUT};
use crate::kafka::admin::ensure_topics;
use crate::kafka::producer::EventProducer;
use crate::metrics::{new_registry, ConsumerMetrics, HttpMetrics, ProducerMetrics};
use crate::outbox::relay::OutboxMetrics;
use crate::outbox::{OutboxHandle, OutboxSettings};
use crate::redis_store::RedisStore;
use crate::secrets::Findings;

/// How long start-up waits for Kafka to confirm the topics before going on without it.
const TOPIC_SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// What every service starts from: its connections, its authenticator and the feed that keeps
/// the authenticator's revocations current (keep it for the service's lifetime).
pub struct Started {
    pub infra: Infrastructure,
    pub auth: actix_web::web::Data<Authenticator>,
    pub revocations: RevocationFeed,
}

/// Connections and metrics shared by a service's routes, actors and consumers.
#[derive(Clone)]
pub struct Infrastructure {
    pub db: DatabaseConnection,
    pub redis: RedisStore,
    pub producer: EventProducer,
    pub registry: Registry,
    pub http_metrics: HttpMetrics,
    pub consumer_metrics: ConsumerMetrics,
}

impl Infrastructure {
    /// Connects to Postgres (running migrations `M`, retrying while it is unreachable),
    /// prepares Redis and Kafka lazily, and makes sure the system's topics exist.
    /// Only an unusable database stops start-up: Redis or Kafka being down shows in `/ready`.
    pub async fn connect<M: MigratorTrait>(service: &str, settings: &CommonSettings) -> anyhow::Result<Self> {
        let registry = new_registry(service)?;
        let db = db::connect_lazy(&settings.database).await?;
        db::migrate::<M>(&db, &settings.database).await?;
        let redis = RedisStore::connect_lazy(&settings.redis)?;
        let producer = EventProducer::new(&settings.kafka, ProducerMetrics::new(&registry)?)
            .context("Failed to create the Kafka producer")?;
        match tokio::time::timeout(TOPIC_SETUP_TIMEOUT, ensure_topics(&settings.kafka, &topics::ALL)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error.cause_chain = ?e, "could not ensure Kafka topics"),
            Err(_) => tracing::warn!("Kafka did not confirm the topics in time; continuing"),
        }
        Ok(Self {
            db,
            redis,
            producer,
            http_metrics: HttpMetrics::new(&registry)?,
            consumer_metrics: ConsumerMetrics::new(&registry)?,
            registry,
        })
    }

    /// Every service's first steps: refuses development secrets outside development (the
    /// common and auth settings', and the service's own in `findings`), connects (see
    /// [`Infrastructure::connect`]) and starts the authenticator.
    pub async fn start<M: MigratorTrait>(
        service: &str,
        common: &CommonSettings,
        auth: &AuthSettings,
        mut findings: Findings,
    ) -> anyhow::Result<Started> {
        findings
            .common(common)
            .auth(auth)
            .enforce(&crate::secrets::environment())?;
        let infra = Self::connect::<M>(service, common).await?;
        let (auth, revocations) = infra.start_auth(auth, common)?;
        Ok(Started {
            infra,
            auth,
            revocations,
        })
    }

    /// The pieces `http::server::build` needs.
    pub fn server_parts(&self, needs: Needs) -> ServerParts {
        ServerParts {
            readiness: Readiness {
                probes: Probe::infrastructure(
                    needs,
                    self.db.clone(),
                    self.redis.clone(),
                    self.producer.clone(),
                    READY_TIMEOUT,
                ),
                timeout: READY_TIMEOUT,
                own: Vec::new(),
            },
            registry: self.registry.clone(),
            http_metrics: self.http_metrics.clone(),
        }
    }

    /// The service's authenticator, with the feed that keeps its revocations current (keep the
    /// feed for the service's lifetime; its `check` belongs in `/ready`).
    fn start_auth(
        &self,
        auth: &AuthSettings,
        settings: &CommonSettings,
    ) -> anyhow::Result<(actix_web::web::Data<Authenticator>, RevocationFeed)> {
        let authenticator = Authenticator::new(auth).context("Invalid auth settings")?;
        let feed = RevocationFeed::start(
            &settings.kafka,
            authenticator.revocations(),
            auth.access_token_ttl(),
        )?;
        Ok((actix_web::web::Data::new(authenticator), feed))
    }

    /// Starts the supervised outbox relay on this service's database and producer.
    pub fn start_outbox(&self, settings: &OutboxSettings) -> anyhow::Result<OutboxHandle> {
        let metrics = OutboxMetrics::new(&self.registry)?;
        Ok(OutboxHandle::start(
            self.db.clone(),
            self.producer.clone(),
            settings.clone(),
            metrics,
        ))
    }

    /// Delivers what the producer still has queued (graceful shutdown).
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(Duration::from_secs(10)) {
            tracing::error!(error.cause_chain = ?e, "Kafka producer did not flush before shutdown");
        }
    }
}
