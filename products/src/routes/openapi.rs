//! The OpenAPI document of the products service, served at `/api/v1/openapi.json`.
use actix_web::web;
use shared::http::openapi::{document, SecuritySchemes};
use utoipa::OpenApi;

use super::products;

/// Every route and schema of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "products", description = "The product catalogue."),
    paths(products::create, products::list, products::batch, products::get, products::update, products::delete),
    components(schemas(shared::http::problem::Problem, shared::http::FieldError, shared::events::product::Price)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Mounts `/openapi.json`.
pub fn config_openapi_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json").route(web::get().to(|| async { document(ApiDoc::openapi()) })),
    );
}
