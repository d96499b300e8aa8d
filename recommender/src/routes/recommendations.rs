//! Recommendations for a user (Redis, then Postgres, then computed), similar products, and
//! popular products.
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::{Caller, Scope};
use shared::db::unexpected;
use shared::http::ApiError;
use uuid::Uuid;

use super::AppState;
use crate::cache::Tier;
use crate::model::Item;
use crate::recommend::{Reason, Recommendation, RecommendationList};
use crate::repository::lists;

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

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cache,
    Database,
    Computed,
}

/// A user's recommendations.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserRecommendations {
    pub user_id: Uuid,
    pub source: Source,
    pub generated_at: DateTime<Utc>,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Recommendation>,
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
    let refresher = &state.refresher;
    let limit = limit(query.limit, refresher.settings.list_length)?;
    let (source, tier, list) = match refresher.cache.get(user).await {
        Some((list, tier)) => (Source::Cache, Some(tier), list),
        None => match lists::load(&refresher.db, user).await.map_err(unexpected)? {
            Some(list) => {
                let list = Arc::new(list);
                refresher.cache.fill(user, &list).await;
                (Source::Database, None, list)
            }
            None => {
                let interests = refresher.catalogue.interests(user);
                let list = match state.cold.get(&interests) {
                    Some(list) => list,
                    None => {
                        let list = Arc::new(refresher.cold(interests.clone()));
                        state.cold.insert(interests, list.clone());
                        list
                    }
                };
                (Source::Computed, None, list)
            }
        },
    };
    // The API says `cache` for both tiers; the metric tells them apart.
    let label = match (source, tier) {
        (_, Some(Tier::Memory)) => "memory",
        (Source::Cache, _) => "cache",
        (Source::Database, _) => "database",
        (Source::Computed, _) => "computed",
    };
    state.metrics.served.with_label_values(&[label]).inc();
    // Lists held in process are answered with the bytes made the last time, while neither the
    // list nor the catalogue changed (a category filter also reads the rankings: not kept).
    let reusable = tier == Some(Tier::Memory) && query.category.is_none();
    let catalogue = refresher.catalogue.version();
    if reusable {
        if let Some(body) = state.answers.get(user, limit, &list, catalogue) {
            return Ok(json_response(body));
        }
    }
    let items = visible(&state, &list, query.category.as_deref(), limit);
    let body = serde_json::to_vec(&UserRecommendations {
        user_id: user,
        source,
        generated_at: items.1,
        items: items.0,
    })
    .map_err(|e| unexpected(anyhow::Error::new(e)))?;
    let body = actix_web::web::Bytes::from(body);
    if reusable {
        state.answers.insert(user, limit, list, catalogue, body.clone());
    }
    Ok(json_response(body))
}

/// A 200 answer with a JSON body already serialised.
fn json_response(body: actix_web::web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// Drops products that stopped being recommendable since the list was made, applies the
/// category filter, and fills up from the category's popular products.
fn visible(
    state: &AppState,
    list: &RecommendationList,
    category: Option<&str>,
    limit: usize,
) -> (Vec<Recommendation>, DateTime<Utc>) {
    let catalogue = &state.refresher.catalogue;
    let keep = |product: Uuid| {
        catalogue.item(product).is_some_and(|item| {
            catalogue.recommendable(item)
                && category.is_none_or(|c| catalogue.category(item).as_deref() == Some(c))
        })
    };
    let mut items: Vec<Recommendation> = list
        .items
        .iter()
        .filter(|r| keep(r.product_id))
        .take(limit)
        .cloned()
        .collect();
    if let Some(category) = category.filter(|_| items.len() < limit) {
        let refresher = &state.refresher;
        let rankings = refresher.rankings.get(&refresher.replica, catalogue);
        for &(item, _) in rankings.popular_in(category).iter().take(limit * 2) {
            let Some(product_id) = catalogue.product(item) else {
                continue;
            };
            if items.len() < limit && !items.iter().any(|r| r.product_id == product_id) {
                items.push(Recommendation {
                    product_id,
                    score: 0.0,
                    reason: Reason::PopularIn {
                        category: category.to_owned(),
                    },
                });
            }
        }
    }
    (items, list.generated_at)
}

/// Scored products without a reason (similar and popular lists).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoredProduct {
    pub product_id: Uuid,
    pub score: f64,
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
    let refresher = &state.refresher;
    let limit = limit(query.limit, refresher.settings.list_length)?;
    let catalogue = &refresher.catalogue;
    let Some(item) = catalogue.item(product.into_inner()) else {
        return Err(ApiError::not_found("No such product."));
    };
    // Kept until the item's row changes, and at most one flush interval (the counts of the
    // neighbours themselves move too).
    let computed = state.similar.get(&item).filter(|cached| {
        let (version, _) = &**cached;
        *version >= refresher.replica.read().row_version(item)
    });
    let scored = match computed {
        Some(cached) => cached,
        None => {
            let replica = refresher.replica.read();
            let version = replica.version();
            let mut scored = replica.neighbours(item, None, &refresher.settings.model);
            drop(replica);
            crate::model::score::top(&mut scored, 0);
            let cached = Arc::new((version, scored));
            state.similar.insert(item, cached.clone());
            cached
        }
    };
    let items: Vec<ScoredProduct> = scored
        .1
        .iter()
        .copied()
        .filter(|(j, _)| catalogue.recommendable(*j))
        .filter_map(|(j, score)| {
            Some(ScoredProduct {
                product_id: catalogue.product(j)?,
                score,
            })
        })
        .take(limit)
        .collect();
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
    let refresher = &state.refresher;
    let limit = limit(query.limit, refresher.settings.list_length)?;
    let rankings = refresher.rankings.get(&refresher.replica, &refresher.catalogue);
    let ranked: Vec<(Item, f64)> = match &query.category {
        Some(category) => rankings
            .popular_in(category)
            .iter()
            .take(limit)
            .copied()
            .collect(),
        None => rankings.trending.iter().take(limit).copied().collect(),
    };
    // Popularity is stored relative to a fixed epoch; scale so the top item scores 1.
    let top = ranked
        .first()
        .map_or(1.0, |(_, p)| if *p > 0.0 { *p } else { 1.0 });
    let items: Vec<ScoredProduct> = ranked
        .into_iter()
        .filter_map(|(item, p)| {
            Some(ScoredProduct {
                product_id: refresher.catalogue.product(item)?,
                score: p / top,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}
