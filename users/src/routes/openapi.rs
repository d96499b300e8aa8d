//! The OpenAPI document of the users service, served at `/api/v1/openapi.json`.
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{actions, auth, users};

/// Every route and schema of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "users", description = "Accounts, authentication, profiles and user actions."),
    paths(users::register, users::list, users::me, users::get, users::update, users::delete,
        auth::login, actions::post_actions),
    components(schemas(shared::http::problem::Problem, shared::http::FieldError,
        shared::events::action::ActionKind, shared::auth::Role)),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate: a bearer JWT and the `X-API-Key` header.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// Mounts `/openapi.json`.
pub fn config_openapi_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/openapi.json", web::get().to(openapi));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
