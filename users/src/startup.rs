//! Builds the users service from its settings and runs it until SIGTERM.
use actix_web::dev::Server;
use actix_web::web;
use anyhow::Context;
use secrecy::ExposeSecret;
use shared::auth::RevocationFeed;
use shared::http::health::{Need, Needs};
use shared::outbox::OutboxHandle;
use shared::secrets::Findings;
use shared::service::{Infrastructure, Started};

use crate::configuration::Settings;
use crate::domain::email::Email;
use crate::domain::limits::Limits;
use crate::domain::password::Password;
use crate::migration::Migrator;
use crate::repository::known_users::KnownUsers;
use crate::repository::users::ensure_admin;
use crate::routes::{self, AppState};

/// Service name in logs and metrics.
pub const SERVICE: &str = "users";

/// What `/ready` checks. Kafka is optional: logins, registrations and profiles go on without it
/// (their events wait in the outbox); only posting actions answers 503 then.
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
}

impl Application {
    /// Connects to its dependencies, migrates, bootstraps the admin, starts the outbox relay
    /// and binds its port.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let mut findings = Findings::default();
        if let Some(password) = &settings.admin.password {
            findings.password("admin.password", password);
        }
        let Started {
            infra,
            auth,
            revocations,
        } = Infrastructure::start::<Migrator>(SERVICE, &settings.common, &settings.auth, findings).await?;
        bootstrap_admin(&infra, &settings).await?;
        let outbox = infra.start_outbox(&settings.outbox)?;
        prune_sessions_hourly(infra.db.clone());
        let state = web::Data::new(AppState {
            db: infra.db.clone(),
            producer: infra.producer.clone(),
            outbox: outbox.clone(),
            settings: settings.users.clone(),
            limits: Limits::new(settings.users.limits.clone()),
            known_users: KnownUsers::new(settings.users.known_users_capacity, &auth.revocations()),
            configured_admin: settings
                .admin
                .email
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .map(|e| e.as_str().to_owned()),
        });
        prune_limits(state.clone());
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
        })
    }

    /// The bound port (useful when the configured port is 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The outbox relay (tests stop it to simulate a crash mid-publish).
    pub fn outbox(&self) -> OutboxHandle {
        self.outbox.clone()
    }

    /// Serves until SIGTERM/SIGINT, then drains requests, stops the relay and flushes Kafka.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        self.outbox.shutdown().await;
        self.infra.flush();
        tracing::info!("users stopped");
        Ok(())
    }
}

/// Creates or promotes the configured admin account, if one is configured.
async fn bootstrap_admin(infra: &Infrastructure, settings: &Settings) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&settings.admin.email, &settings.admin.password) else {
        return Ok(());
    };
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("admin.email {e}"))?;
    let password = Password::parse(
        password.expose_secret().to_owned(),
        settings.users.min_password_length,
    )
    .map_err(|e| anyhow::anyhow!("admin.password {e}"))?;
    ensure_admin(&infra.db, email, || password.hash())
        .await
        .context("Failed to bootstrap the admin account")
}

/// Deletes long-expired sessions every hour (their tokens are dead; the table stays small).
fn prune_sessions_hourly(db: sea_orm::DatabaseConnection) {
    actix_web::rt::spawn(async move {
        let mut hours = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hours.tick().await;
            match crate::repository::sessions::prune(&db).await {
                Ok(rows) => tracing::info!(rows, "pruned expired sessions"),
                Err(e) => tracing::warn!(error.cause_chain = ?e, "pruning sessions failed"),
            }
        }
    });
}

/// Forgets idle rate-limit counters every ten minutes (they grow with distinct addresses).
fn prune_limits(state: web::Data<AppState>) {
    actix_web::rt::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            ticks.tick().await;
            state.limits.prune();
        }
    });
}
