//! HTTP routes of the products service, under `/api/v1` (operational routes come from `shared::http`).
pub mod openapi;
pub mod products;

use std::sync::Arc;

use actix_web::web;
use sea_orm::DatabaseConnection;
use shared::auth::Authenticator;

use crate::domain::catalogue::Catalogue;
use crate::repository::cached::ProductCache;

/// What the handlers share.
pub struct AppState {
    /// For reads.
    pub db: DatabaseConnection,
    /// Writes.
    pub catalogue: Catalogue,
    /// Single products as answered, forgotten on every write (here at once, elsewhere by the
    /// product feed).
    pub cache: Arc<ProductCache>,
}

/// Mounts the API with its shared state; called once per HTTP worker.
pub fn configure(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(state.clone()).app_data(auth.clone()).service(
            web::scope("/api/v1")
                .configure(products::config_products_api)
                .configure(openapi::config_openapi_api),
        );
    }
}
