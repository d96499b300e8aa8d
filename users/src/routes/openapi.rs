//! The OpenAPI document of the users service, served at `/api/v1/openapi.json`.
use actix_web::web;
use shared::http::openapi::{document, SecuritySchemes};
use utoipa::OpenApi;

use super::{actions, auth, users};

/// Every route and schema of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "users", description = "Accounts, authentication, profiles and user actions."),
    paths(users::register, users::list, users::me, users::get, users::update, users::delete,
        auth::login, auth::refresh, auth::logout, auth::jwks, actions::post_actions),
    components(schemas(shared::http::problem::Problem, shared::http::FieldError,
        shared::events::action::ActionKind, shared::auth::Role)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Mounts `/openapi.json`.
pub fn config_openapi_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json").route(web::get().to(|| async { document(ApiDoc::openapi()) })),
    );
}
