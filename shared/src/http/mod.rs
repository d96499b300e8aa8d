//! HTTP building blocks every service uses: the problem+json error envelope, request-id and
//! metrics middleware, health/readiness/metrics endpoints and the server itself.
pub mod health;
pub mod json;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod server;
pub mod validation;

pub use json::Json;
pub use problem::{ApiError, FieldError};
