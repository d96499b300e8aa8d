//! One error body for every service: RFC 9457 problem details (`application/problem+json`).
use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field in the input, e.g. `email` or `items[2].product_id`.
    pub field: String,
    pub message: String,
}

/// The JSON body of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/validation-error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error an HTTP handler returns. The cause (if any) is logged with the request, never sent.
pub struct ApiError {
    problem: Problem,
    source: Option<anyhow::Error>,
    /// Sent as `Retry-After`, in whole seconds.
    retry_after: Option<u32>,
}

impl ApiError {
    /// A problem of kind `/problems/<slug>` with `status` and a human-readable `detail`.
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        Self {
            problem: Problem {
                kind: format!("/problems/{slug}"),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                errors: Vec::new(),
            },
            source: None,
            retry_after: None,
        }
    }

    /// 429: too many requests; the client may retry after `retry_after`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", detail).retry_after(retry_after)
    }

    /// Adds `Retry-After` to the answer (rounded up to whole seconds, at least 1: retrying at
    /// the announced second must succeed).
    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.retry_after = Some(u32::try_from(seconds.max(1)).unwrap_or(u32::MAX));
        self
    }

    /// 400: the request cannot be parsed (malformed JSON, bad path or query parameter).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422: well-formed input that breaks a rule; names each offending field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-error", detail);
        error.problem.errors = errors;
        error
    }

    /// 404 for a missing resource.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 503: a dependency is down; the client may retry. The cause is logged.
    pub fn unavailable(detail: impl Into<String>, cause: anyhow::Error) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service-unavailable", detail).with_source(cause)
    }

    /// 500 without details for the client; the cause chain is logged.
    pub fn internal(cause: anyhow::Error) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "An unexpected error occurred.",
        )
        .with_source(cause)
    }

    /// Attaches the underlying error, for the logs.
    pub fn with_source(mut self, cause: anyhow::Error) -> Self {
        self.source = Some(cause);
        self
    }

    /// The body that will be sent.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem.title, self.problem.detail)
    }
}

/// Debug prints the whole cause chain: tracing-actix-web logs it as `exception.details`.
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        if let Some(source) = &self.source {
            write!(f, "\nCaused by: {source:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(&self.problem)
    }
}

/// Maps JSON body errors to problem+json: 415 wrong content type, 413 too large, 400 malformed,
/// 422 well-formed JSON of the wrong shape (serde names the field).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let error = match &err {
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Expected a body with Content-Type: application/json.",
        ),
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("The body is larger than the limit of {limit} bytes."),
            )
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            format!("The JSON body has the wrong shape: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::bad_request(format!("The body is not valid JSON: {e}")),
        other => ApiError::bad_request(format!("Could not read the body: {other}")),
    };
    error.into()
}

/// Path parameters that do not parse (e.g. an invalid UUID) are a 400, not actix's 404.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("Invalid path parameter: {err}")).into()
}

/// Query strings that do not parse are a 400 naming the problem.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(format!("Invalid query string: {err}")).into()
}

/// The answer for routes that do not exist.
pub async fn not_found() -> actix_web::HttpResponse {
    ApiError::not_found("No such route.").error_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn validation_error_renders_problem_json_with_field_errors() {
        let error = ApiError::validation(vec![FieldError {
            field: "email".into(),
            message: "is empty".into(),
        }]);
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "/problems/validation-error",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": "email: is empty",
                "errors": [{"field": "email", "message": "is empty"}]
            })
        );
    }

    #[test]
    fn internal_errors_hide_the_cause_from_clients_but_keep_it_for_logs() {
        let cause = anyhow::anyhow!("connection refused").context("Failed to load user");
        let error = ApiError::internal(cause);
        assert_eq!(error.problem().detail, "An unexpected error occurred.");
        let logged = format!("{error:?}");
        assert!(logged.contains("Failed to load user"), "{logged}");
        assert!(logged.contains("connection refused"), "{logged}");
    }
}
