//! Pieces of every service's OpenAPI document.
use actix_web::HttpResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::Modify;

/// Declares the two ways to authenticate: `bearer` (JWT) and `api_key` (`X-API-Key`).
pub struct SecuritySchemes;

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

/// The document as a JSON response, [`complete`]d.
pub fn document(openapi: OpenApi) -> HttpResponse {
    HttpResponse::Ok().json(complete(openapi))
}

/// Media type of every error body.
const PROBLEM_JSON: &str = "application/problem+json";

/// Adds what every operation shares, so that each route's annotation only lists its own
/// answers: the errors the extractors, authentication and dependencies produce (400, 401, 413,
/// 415, 422, 503), each as `application/problem+json` with the `Problem` schema.
pub fn complete(mut openapi: OpenApi) -> OpenApi {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(operation);
        }
    }
    openapi
}

fn complete_operation(operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut shared = vec![(
        "503",
        "A dependency (PostgreSQL, Redis or Kafka) is unavailable; retry later",
    )];
    if has_body || has_parameters {
        shared.push((
            "400",
            "Malformed request: the body is not JSON, or a path or query parameter is not of its type",
        ));
    }
    if has_body {
        shared.push(("413", "The body is larger than the configured limit"));
        shared.push(("415", "The body is not `application/json`"));
        shared.push(("422", "A field is invalid; `errors` names each one"));
    }
    if operation.security.is_some() {
        shared.push(("401", "Missing, expired or invalid credentials"));
    }
    let responses = &mut operation.responses.responses;
    for (status, description) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
            // Whatever schema the annotation gave (usually none, or Problem), errors are
            // problem+json bodies.
            response.content.clear();
            let schema = Ref::from_schema_name("Problem");
            response
                .content
                .insert(PROBLEM_JSON.to_owned(), Content::new(Some(schema)));
        }
    }
}
