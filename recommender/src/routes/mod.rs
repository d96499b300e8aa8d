//! HTTP routes of the recommender, under `/api/v1` (operational routes come from `shared::http`).
pub mod openapi;
pub mod recommendations;

use actix_web::web;
use shared::auth::Authenticator;

use crate::domain::recommendations::Recommendations;

/// What the handlers share.
pub struct AppState {
    pub recommendations: Recommendations,
}

/// Mounts the API with its shared state; called once per HTTP worker.
pub fn configure(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(state.clone()).app_data(auth.clone()).service(
            web::scope("/api/v1")
                .configure(recommendations::config_recommendations_api)
                .configure(openapi::config_openapi_api),
        );
    }
}
