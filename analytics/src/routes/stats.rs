//! Statistics of one product (a time series) and of one user.
use actix_web::{web, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shared::auth::{Caller, Scope};
use shared::db::unexpected;
use shared::http::ApiError;
use uuid::Uuid;

use super::AppState;
use crate::buckets::Bucket;
use crate::repository::stats as repo;

/// Mounts `/analytics/products/{id}` and `/analytics/users/{id}`.
pub fn config_stats_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/analytics/products/{id}").route(web::get().to(product)))
        .service(web::resource("/analytics/users/{id}").route(web::get().to(user)));
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

/// A time window ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub enum Window {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Window {
    /// How far back the window reaches.
    pub fn length(self) -> TimeDelta {
        match self {
            Window::Hour => TimeDelta::hours(1),
            Window::Day => TimeDelta::hours(24),
            Window::Week => TimeDelta::days(7),
            Window::Month => TimeDelta::days(30),
        }
    }

    /// The natural bucket width for the window.
    pub fn default_bucket(self) -> Bucket {
        match self {
            Window::Hour => Bucket::Minute,
            Window::Day => Bucket::Hour,
            Window::Week | Window::Month => Bucket::Day,
        }
    }
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

/// One bucket of a product's statistics.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductBucket {
    pub bucket_start: DateTime<Utc>,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    /// Mean rating, absent without ratings.
    pub rating_average: Option<f64>,
    /// Distinct users who acted on the product in the bucket (exact).
    pub unique_users: i64,
    /// purchases / views, absent without views.
    pub conversion_rate: Option<f64>,
}

/// A product's series.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductSeries {
    pub product_id: Uuid,
    pub window: Window,
    pub bucket: Bucket,
    pub items: Vec<ProductBucket>,
}

fn ratio(numerator: i64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator as f64 / denominator)
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
            let rows = repo::product_series(&state.db, product_id, bucket, from)
                .await
                .map_err(unexpected)?;
            let items = rows
                .iter()
                .map(product_bucket)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::internal(e.into()))?;
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

fn product_bucket(row: &sea_orm::QueryResult) -> Result<ProductBucket, sea_orm::DbErr> {
    let (views, purchases, ratings): (i64, i64, i64) = (
        row.try_get("", "views")?,
        row.try_get("", "purchases")?,
        row.try_get("", "ratings")?,
    );
    let rating_sum: f64 = row.try_get("", "rating_sum")?;
    Ok(ProductBucket {
        bucket_start: row.try_get("", "bucket_start")?,
        views,
        clicks: row.try_get("", "clicks")?,
        add_to_cart: row.try_get("", "add_to_cart")?,
        purchases,
        ratings,
        rating_average: (ratings > 0).then(|| rating_sum / ratings as f64),
        unique_users: row.try_get("", "unique_users")?,
        conversion_rate: ratio(purchases, views as f64),
    })
}

/// Admins and the read key only.
pub fn require_privileged(caller: &Caller) -> Result<(), ApiError> {
    caller.require_admin_or(Scope::Read)
}

/// A user's activity since their first action.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserActivity {
    pub user_id: Uuid,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    pub first_activity: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    /// Distinct UTC days with at least one action.
    pub active_days: i64,
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
        let row = match window {
            Some(window) => repo::user_window(&state.db, user_id, Utc::now() - window.length()).await,
            None => repo::user(&state.db, user_id).await,
        };
        let row = row
            .map_err(unexpected)?
            .ok_or_else(|| ApiError::not_found("No activity of this user."))?;
        to_json(user_activity(user_id, &row).map_err(|e| ApiError::internal(e.into()))?)
    })
    .await
}

fn user_activity(user_id: Uuid, row: &sea_orm::QueryResult) -> Result<UserActivity, sea_orm::DbErr> {
    Ok(UserActivity {
        user_id,
        views: row.try_get("", "views")?,
        clicks: row.try_get("", "clicks")?,
        add_to_cart: row.try_get("", "add_to_cart")?,
        purchases: row.try_get("", "purchases")?,
        ratings: row.try_get("", "ratings")?,
        first_activity: row.try_get("", "first_at")?,
        last_activity: row.try_get("", "last_at")?,
        active_days: row.try_get("", "active_days")?,
    })
}

fn to_json<T: Serialize>(value: T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.into()))
}
