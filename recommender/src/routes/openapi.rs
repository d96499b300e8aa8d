//! The OpenAPI document of the recommender, served at `/api/v1/openapi.json`.
use actix_web::web;
use shared::http::openapi::{document, SecuritySchemes};
use utoipa::OpenApi;

use super::recommendations;

/// Every route and schema of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "recommender", description = "Personalised, similar and popular products."),
    paths(recommendations::for_user, recommendations::similar, recommendations::popular),
    components(schemas(shared::http::problem::Problem, crate::domain::list::Reason)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Mounts `/openapi.json`.
pub fn config_openapi_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json").route(web::get().to(|| async { document(ApiDoc::openapi()) })),
    );
}
