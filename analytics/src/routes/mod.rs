//! HTTP routes of analytics, under `/api/v1/analytics` (operational routes come from `shared::http`).
pub mod openapi;
pub mod stats;
pub mod top;

use actix_web::web;
use sea_orm::DatabaseConnection;
use shared::auth::Authenticator;

use crate::cache::AnswerCache;

/// What the handlers share.
pub struct AppState {
    pub db: DatabaseConnection,
    pub cache: AnswerCache,
}

/// Mounts the API with its shared state; called once per HTTP worker.
pub fn configure(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(state.clone()).app_data(auth.clone()).service(
            web::scope("/api/v1")
                .configure(top::config_top_api)
                .configure(stats::config_stats_api)
                .configure(openapi::config_openapi_api),
        );
    }
}
