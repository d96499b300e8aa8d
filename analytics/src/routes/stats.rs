//! Statistics of one product (a time series) and of one user.
use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::auth::{Caller, Scope};
use shared::db::unexpected;
use shared::http::ApiError;
use uuid::Uuid;

use super::AppState;
use crate::buckets::Bucket;
use crate::domain::stats::{ProductSeries, RecentActions, UserActivity, Window};
use crate::repository::reads as repo;

/// Mounts `/analytics/products/{id}`, `/analytics/users/{id}` and its `/events`.
pub fn config_stats_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/analytics/products/{id}").route(web::get().to(product)))
        .service(web::resource("/analytics/users/{id}").route(web::get().to(user)))
        .service(web::resource("/analytics/users/{id}/events").route(web::get().to(user_events)));
}

/// Answers from the cache, or computes, caches and answers; the body says which (`source`).
/// `key` is built from the parsed parameters (never the raw URI: case and %-encoding variants
/// of one question would each get a key of their own).
pub async fn answer<F>(state: &AppState, key: String, compute: F) -> Result<HttpResponse, ApiError>
where
    F: std::future::Future<Output = Result<Value, ApiError>>,
{
    if let Some(cached) = state.cache.get(&key).await {
        return Ok(HttpResponse::Ok()
            .insert_header(actix_web::http::header::ContentType::json())
            .body(cached));
    }
    let mut fresh = compute.await?;
    state.cache.put(&key, &fresh).await;
    fresh["source"] = json!("database");
    Ok(HttpResponse::Ok().json(fresh))
}

/// `window` (`1h`, `24h`, `7d`, `30d`; default `24h`) and `bucket` (`minute`, `hour`, `day`;
/// default by window).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    pub window: Option<Window>,
    pub bucket: Option<Bucket>,
}

/// A product's statistics per bucket over a window, oldest first (admins and the API key).
#[utoipa::path(get, path = "/api/v1/analytics/products/{id}", tag = "analytics",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path), SeriesQuery),
    responses((status = 200, body = ProductSeries), (status = 400), (status = 401), (status = 403)))]
pub async fn product(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<SeriesQuery>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller)?;
    let product_id = id.into_inner();
    let window = query.window.unwrap_or(Window::Day);
    let bucket = query.bucket.unwrap_or(window.default_bucket());
    answer(
        &state,
        format!("product:{product_id}:{window:?}:{bucket:?}"),
        async {
            let from = bucket.start(Utc::now() - window.length());
            let items = repo::product_series(&state.db, product_id, bucket, from)
                .await
                .map_err(unexpected)?;
            to_json(ProductSeries {
                product_id,
                window,
                bucket,
                items,
            })
        },
    )
    .await
}

/// Admins and the read key only.
pub fn require_privileged(caller: &Caller) -> Result<(), ApiError> {
    caller.require_admin_or(Scope::Read)
}

/// `window` (`1h`, `24h`, `7d`, `30d`); without it, all activity since the first action.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    pub window: Option<Window>,
}

/// A user's activity (the user themself, admins and the API key); 404 without activity (in the
/// window). Windowed answers are counted from the raw events.
#[utoipa::path(get, path = "/api/v1/analytics/users/{id}", tag = "analytics",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path), UserQuery),
    responses((status = 200, body = UserActivity), (status = 401), (status = 403), (status = 404)))]
pub async fn user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    caller.require_self_or(user_id, Scope::Read)?;
    let window = query.window;
    answer(&state, format!("user:{user_id}:{window:?}"), async {
        let activity = match window {
            Some(window) => repo::user_window(&state.db, user_id, Utc::now() - window.length()).await,
            None => repo::user(&state.db, user_id).await,
        };
        let activity = activity
            .map_err(unexpected)?
            .ok_or_else(|| ApiError::not_found("No activity of this user."))?;
        to_json(activity)
    })
    .await
}

/// `limit`: 1 to 100, default 20.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub limit: Option<u64>,
}

/// A user's latest actions, newest first (the user themself, admins and the API key). Read
/// from the raw events at every request: it is what the user just did, never a cached answer.
#[utoipa::path(get, path = "/api/v1/analytics/users/{id}/events", tag = "analytics",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path), EventsQuery),
    responses((status = 200, body = RecentActions), (status = 400), (status = 401), (status = 403)))]
pub async fn user_events(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    query: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    caller.require_self_or(user_id, Scope::Read)?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request("limit: must be between 1 and 100"));
    }
    let items = repo::recent_actions(&state.db, user_id, limit)
        .await
        .map_err(unexpected)?;
    Ok(HttpResponse::Ok().json(RecentActions { user_id, items }))
}

fn to_json<T: Serialize>(value: T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.into()))
}
