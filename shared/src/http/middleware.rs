//! Middleware every service wraps its app in (see `server::build`).
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, ALLOW};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, ResponseError};
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use super::problem::ApiError;
use crate::metrics::HttpMetrics;

/// The proxies whose `X-Forwarded-For` is believed (app data; `application.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<std::net::IpAddr>);

/// The root span of every request, as `tracing-actix-web`'s default one but with the client
/// address from the connection (or a trusted proxy's `X-Forwarded-For`), never from headers a
/// client can forge.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let client = super::client_ip(request.request());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let route = request.match_pattern().unwrap_or_else(|| "default".to_owned());
        tracing::info_span!(
            crate::telemetry::REQUEST_SPAN,
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path_and_query().map_or("", |p| p.as_str()),
            http.client_ip = %client,
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: tracing::Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Response header carrying the id that every log line of the request also carries.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Echoes the request id (created by `TracingLogger`, which must wrap this) in `X-Request-Id`.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(id) = request_id {
        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
    }
    Ok(response)
}

/// Counts requests and observes latency, labelled by route template so label sets stay bounded.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let Some(metrics) = req.app_data::<web::Data<HttpMetrics>>().cloned() else {
        return next.call(req).await;
    };
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    metrics.in_flight.inc();
    let result = next.call(req).await;
    metrics.in_flight.dec();
    let status = match &result {
        Ok(response) => response.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    metrics
        .requests
        .with_label_values(&[method, route.as_str(), status.as_str()])
        .inc();
    metrics
        .duration
        .with_label_values(&[method, route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    result
}

/// The metrics label of a method: the standard ones by name, anything else `OTHER` (any string
/// is a valid method, and each would otherwise add series to `/metrics`).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("OTHER", |(_, label)| label)
}

/// Answers in problem+json where actix itself would answer: a URL holding an encoded NUL (a
/// 400 before any handler passes it to PostgreSQL, which cannot store it in text), and a
/// method a route does not have (405 keeping actix's `Allow` header).
pub async fn problem_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req
        .uri()
        .path_and_query()
        .is_some_and(|p| p.as_str().contains("%00"))
    {
        let problem = ApiError::bad_request("The URL must not contain the NUL character (%00).");
        return Ok(req.into_response(problem.error_response()));
    }
    let response = next.call(req).await?;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return Ok(response.map_into_boxed_body());
    }
    let allow = response.headers().get(ALLOW).cloned();
    let (request, _) = response.into_parts();
    let mut answer = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "The route does not accept this method; `Allow` lists those it does.",
    )
    .error_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(ALLOW, allow);
    }
    Ok(ServiceResponse::new(request, answer))
}
