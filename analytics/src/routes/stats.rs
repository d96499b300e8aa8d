//! Statistics of one product (a time series) and of one user.
use actix_web::{web, HttpResponse};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::db::unexpected;
use shared::http::ApiError;
use uuid::Uuid;

use super::AppState;
use crate::buckets::Bucket;
use crate::repository::stats as repo;

/// Mounts `/analytics/products/{id}` and `/analytics/users/{id}`.
pub fn config_stats_api(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics/products/{id}", web::get().to(product))
        .route("/analytics/users/{id}", web::get().to(user));
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
    fn length(self) -> TimeDelta {
        match self {
            Window::Hour => TimeDelta::hours(1),
            Window::Day => TimeDelta::hours(24),
            Window::Week => TimeDelta::days(7),
            Window::Month => TimeDelta::days(30),
        }
    }

    /// The natural bucket width for the window.
    fn default_bucket(self) -> Bucket {
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
    if !caller.is_privileged() {
        caller.require_admin()?;
    }
    let product_id = id.into_inner();
    let window = query.window.unwrap_or(Window::Day);
    let bucket = query.bucket.unwrap_or(window.default_bucket());
    let from = bucket.start(Utc::now() - window.length());
    let rows = repo::product_series(&state.db, product_id, bucket, from)
        .await
        .map_err(unexpected)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |column: &str| {
            row.try_get::<i64>("", column)
                .map_err(|e| ApiError::internal(e.into()))
        };
        let (views, purchases, ratings) = (get("views")?, get("purchases")?, get("ratings")?);
        let rating_sum: f64 = row
            .try_get("", "rating_sum")
            .map_err(|e| ApiError::internal(e.into()))?;
        items.push(ProductBucket {
            bucket_start: row
                .try_get("", "bucket_start")
                .map_err(|e| ApiError::internal(e.into()))?,
            views,
            clicks: get("clicks")?,
            add_to_cart: get("add_to_cart")?,
            purchases,
            ratings,
            rating_average: (ratings > 0).then(|| rating_sum / ratings as f64),
            unique_users: get("unique_users")?,
            conversion_rate: ratio(purchases, views as f64),
        });
    }
    Ok(HttpResponse::Ok().json(ProductSeries {
        product_id,
        window,
        bucket,
        items,
    }))
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

/// A user's activity (the user themself, admins and the API key); 404 before any action.
#[utoipa::path(get, path = "/api/v1/analytics/users/{id}", tag = "analytics",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = UserActivity), (status = 401), (status = 403), (status = 404)))]
pub async fn user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    caller.require_self_or_privileged(user_id)?;
    let row = repo::user(&state.db, user_id)
        .await
        .map_err(unexpected)?
        .ok_or_else(|| ApiError::not_found("No activity of this user."))?;
    let get = |column: &str| {
        row.try_get::<i64>("", column)
            .map_err(|e| ApiError::internal(e.into()))
    };
    let time = |column: &str| {
        row.try_get::<DateTime<Utc>>("", column)
            .map_err(|e| ApiError::internal(e.into()))
    };
    Ok(HttpResponse::Ok().json(UserActivity {
        user_id,
        views: get("views")?,
        clicks: get("clicks")?,
        add_to_cart: get("add_to_cart")?,
        purchases: get("purchases")?,
        ratings: get("ratings")?,
        first_activity: time("first_at")?,
        last_activity: time("last_at")?,
        active_days: get("active_days")?,
    }))
}
