//! HTTP routes of the recommender, under `/api/v1` (operational routes come from `shared::http`).
pub mod openapi;
pub mod recommendations;

use crate::cache::Recent;
use crate::model::Item;
use crate::recommend::RecommendationList;
use actix_web::web;
use shared::auth::Authenticator;

use crate::metrics::RecommenderMetrics;
use crate::refresh::Refresher;

/// What the handlers share.
pub struct AppState {
    pub refresher: Refresher,
    pub metrics: RecommenderMetrics,
    /// Cold-start lists by interests, for one flush interval.
    pub cold: Recent<Vec<String>, RecommendationList>,
    /// Scored neighbours by product, with the replica version they were computed at, for at
    /// most one flush interval.
    pub similar: Recent<Item, (u64, Vec<(Item, f64)>)>,
    /// Serialised answers of lists held in process.
    pub answers: crate::cache::Answers,
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
