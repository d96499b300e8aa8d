//! The OpenAPI document of analytics, served at `/api/v1/openapi.json`.
use actix_web::web;
use shared::http::openapi::{document, SecuritySchemes};
use utoipa::OpenApi;

use super::{stats, top};

/// Every route and schema of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "analytics", description = "Product popularity and user activity statistics."),
    paths(stats::product, stats::user, stats::user_events, top::top_products, top::top_categories, top::summary),
    components(schemas(shared::http::problem::Problem, crate::buckets::Bucket)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Mounts `/openapi.json`.
pub fn config_openapi_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json").route(web::get().to(|| async { document(ApiDoc::openapi()) })),
    );
}
