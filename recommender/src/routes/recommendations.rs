//! HTTP of the read path: recommendations for a user, similar products and popular products
//! (the work is `domain::recommendations`).
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use shared::auth::{Caller, Scope};
use shared::db::unexpected;
use shared::http::ApiError;
use uuid::Uuid;

use super::AppState;
use crate::domain::recommendations::{ReadError, ScoredProduct, UserRecommendations};

/// Mounts the three routes.
pub fn config_recommendations_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users/{id}/recommendations").route(web::get().to(for_user)))
        .service(web::resource("/products/{id}/similar").route(web::get().to(similar)))
        .service(web::resource("/recommendations/popular").route(web::get().to(popular)));
}

/// `limit` (1 to 50, default 10) and an optional `category`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<usize>,
    /// Only products of this category.
    pub category: Option<String>,
}

fn limit(requested: Option<usize>, max: usize) -> Result<usize, ApiError> {
    let limit = requested.unwrap_or(10);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be between 1 and {max}."
        )))
    }
}

/// Personalised recommendations (the user, an admin, or the service key).
#[utoipa::path(get, path = "/api/v1/users/{id}/recommendations", tag = "recommendations",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path), ListQuery),
    responses((status = 200, body = UserRecommendations), (status = 400), (status = 401), (status = 403)))]
#[tracing::instrument(skip(state, caller, query), fields(user_id = %user))]
pub async fn for_user(
    state: web::Data<AppState>,
    caller: Caller,
    user: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = user.into_inner();
    caller.require_self_or(user, Scope::Read)?;
    let limit = limit(query.limit, state.recommendations.max_limit())?;
    let body = state
        .recommendations
        .for_user(user, limit, query.category.as_deref())
        .await
        .map_err(read_error)?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// The problem a failed read answers.
fn read_error(error: ReadError) -> ApiError {
    match error {
        ReadError::UnknownProduct => ApiError::not_found("No such product."),
        ReadError::Unexpected(e) => unexpected(e),
    }
}

/// `limit` (1 to 50, default 10).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    pub limit: Option<usize>,
}

/// Products most similar to this one (any authenticated caller).
#[utoipa::path(get, path = "/api/v1/products/{id}/similar", tag = "recommendations",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path), LimitQuery),
    responses((status = 200, body = Vec<ScoredProduct>), (status = 400), (status = 401), (status = 404)))]
pub async fn similar(
    state: web::Data<AppState>,
    _caller: Caller,
    product: web::Path<Uuid>,
    query: web::Query<LimitQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit, state.recommendations.max_limit())?;
    let items = state
        .recommendations
        .similar(product.into_inner(), limit)
        .map_err(read_error)?;
    Ok(HttpResponse::Ok().json(items))
}

/// Popular products, overall or in a category, by time-decayed interaction weight (any
/// authenticated caller).
#[utoipa::path(get, path = "/api/v1/recommendations/popular", tag = "recommendations",
    security(("bearer" = []), ("api_key" = [])), params(ListQuery),
    responses((status = 200, body = Vec<ScoredProduct>), (status = 400), (status = 401)))]
pub async fn popular(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit(query.limit, state.recommendations.max_limit())?;
    Ok(HttpResponse::Ok().json(state.recommendations.popular(query.category.as_deref(), limit)))
}
