//! HTTP routes of the users service, under `/api/v1` (operational routes come from `shared::http`).
pub mod actions;
pub mod auth;
pub mod openapi;
pub mod users;

use actix_web::web;
use sea_orm::DatabaseConnection;
use shared::auth::Authenticator;
use shared::kafka::producer::EventProducer;
use shared::outbox::OutboxHandle;

use crate::configuration::UsersSettings;
use crate::domain::limits::{Limits, Refused};
use crate::repository::known_users::KnownUsers;

/// What the handlers share.
pub struct AppState {
    pub db: DatabaseConnection,
    pub producer: EventProducer,
    pub outbox: OutboxHandle,
    pub settings: UsersSettings,
    /// The normalised e-mail of the configured admin (`admin.email`): that account is managed
    /// by configuration, and the API neither deletes nor demotes it (the break-glass account).
    pub configured_admin: Option<String>,
    /// Abuse limits and their counters.
    pub limits: Limits,
    /// Users confirmed to exist (actions posted with an ingest key).
    pub known_users: KnownUsers,
}

impl From<Refused> for shared::http::ApiError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::TooMany(after) => {
                shared::http::ApiError::too_many_requests("Too many attempts; retry later.", after)
            }
            Refused::Busy => shared::http::ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "The service is busy; retry in a second.",
            )
            .retry_after(std::time::Duration::from_secs(1)),
        }
    }
}

/// Mounts the API with its shared state; called once per HTTP worker.
pub fn configure(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(state.clone()).app_data(auth.clone()).service(
            web::scope("/api/v1")
                .configure(auth::config_auth_api)
                .configure(actions::config_actions_api)
                .configure(users::config_users_api)
                .configure(openapi::config_openapi_api),
        );
    }
}
