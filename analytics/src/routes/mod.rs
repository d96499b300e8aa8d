//! HTTP routes of the analytics service (operational routes come from `shared::http`).
use actix_web::web;

/// Mounts the service's API.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
