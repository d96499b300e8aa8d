//! Rankings and the summary.
use actix_web::{web, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::unexpected;
use shared::http::ApiError;

use super::stats::{answer, require_privileged};
use super::AppState;
use crate::buckets::Bucket;
use crate::domain::stats::{AllTime, Metric, Ranked, Window};
use crate::repository::reads as repo;

/// Mounts the ranking and summary routes.
pub fn config_top_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/analytics/products/top").route(web::get().to(top_products)))
        .service(web::resource("/analytics/categories/top").route(web::get().to(top_categories)))
        .service(web::resource("/analytics/summary").route(web::get().to(summary)));
}

/// `metric` (default views), `window` (default 24h), `category`, `limit` (1–100, default 10).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopQuery {
    pub metric: Option<Metric>,
    pub window: Option<Window>,
    pub category: Option<String>,
    pub limit: Option<u64>,
}

fn limit(requested: Option<u64>) -> Result<u64, ApiError> {
    let limit = requested.unwrap_or(10);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request("limit must be between 1 and 100."))
    }
}

async fn ranking(state: &AppState, query: &TopQuery, by_category: bool) -> Result<Value, ApiError> {
    let metric = query.metric.unwrap_or(Metric::Views);
    let window = query.window.unwrap_or(Window::Day);
    let bucket = window.default_bucket();
    let from = bucket.start(Utc::now() - window.length());
    let rows = repo::top(
        &state.db,
        metric,
        bucket,
        from,
        query.category.as_deref(),
        by_category,
        limit(query.limit)?,
    )
    .await
    .map_err(unexpected)?;
    let key = if by_category { "category" } else { "product_id" };
    let items: Vec<Value> = rows.iter().map(|r| ranked(r, key)).collect();
    Ok(json!({"metric": metric, "window": window, "items": items}))
}

/// One ranked product or category as JSON, its key named `key`.
fn ranked(r: &Ranked, key: &str) -> Value {
    json!({
        key: r.key, "value": r.value, "views": r.views, "clicks": r.clicks,
        "add_to_cart": r.add_to_cart, "purchases": r.purchases, "ratings": r.ratings,
    })
}

/// Products ranked by a metric over a window (admins and the API key).
#[utoipa::path(get, path = "/api/v1/analytics/products/top", tag = "analytics", security(("bearer" = []), ("api_key" = [])),
    params(TopQuery), responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn top_products(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TopQuery>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller)?;
    answer(
        &state,
        format!("top-products:{:?}", *query),
        ranking(&state, &query, false),
    )
    .await
}

/// Categories ranked by a metric over a window (admins and the API key).
#[utoipa::path(get, path = "/api/v1/analytics/categories/top", tag = "analytics", security(("bearer" = []), ("api_key" = [])),
    params(TopQuery), responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn top_categories(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TopQuery>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller)?;
    answer(
        &state,
        format!("top-categories:{:?}", *query),
        ranking(&state, &query, true),
    )
    .await
}

/// `window` (default 24h).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    pub window: Option<Window>,
}

/// Totals over a window (actions by type, registrations, catalogue changes), daily and weekly
/// active users, and the top categories by views (admins and the API key).
#[utoipa::path(get, path = "/api/v1/analytics/summary", tag = "analytics", security(("bearer" = []), ("api_key" = [])),
    params(SummaryQuery), responses((status = 200, body = Object), (status = 400), (status = 401), (status = 403)))]
pub async fn summary(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    require_privileged(&caller)?;
    let window = query.window.unwrap_or(Window::Day);
    let compute = async {
        let bucket = window.default_bucket();
        let totals = repo::totals(&state.db, bucket, bucket.start(Utc::now() - window.length()))
            .await
            .map_err(unexpected)?;
        let ever = repo::totals(&state.db, Bucket::Day, DateTime::<Utc>::UNIX_EPOCH)
            .await
            .map_err(unexpected)?;
        let today = Utc::now().date_naive();
        let dau = repo::active_users(&state.db, today).await.map_err(unexpected)?;
        let wau = repo::active_users(&state.db, today - TimeDelta::days(6))
            .await
            .map_err(unexpected)?;
        let categories = ranking(
            &state,
            &TopQuery {
                metric: None,
                window: Some(window),
                category: None,
                limit: Some(5),
            },
            true,
        )
        .await?;
        Ok(
            json!({"window": window, "totals": totals, "daily_active_users": dau, "weekly_active_users": wau,
                  "top_categories": categories["items"], "all_time": AllTime::from_totals(&ever)}),
        )
    };
    answer(&state, format!("summary:{window:?}"), compute).await
}
