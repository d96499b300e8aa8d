//! The catalogue's HTTP: public reads (from the repository and its cache), admin writes
//! (`domain::catalogue`) with optimistic concurrency (`preconditions`).
mod preconditions;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::db::unexpected;
use shared::events::product::ProductSnapshot;
use shared::http::pagination::{self, decode_cursor, paginate};
use shared::http::{ApiError, Json};
use uuid::Uuid;

use self::preconditions::{etag, expected, expected_if_any, holds};
use super::AppState;
use crate::domain::catalogue::{CreateError, DeleteError, UpdateError};
use crate::domain::requests::{CreateProduct, UpdateProduct};
use crate::entity::products::Model;
use crate::repository::products::{self as repo, Filter};

/// Most ids one batch read may ask for.
const MAX_BATCH: usize = 200;

/// Mounts `/products`, `/products:batch` and `/products/{id}`.
pub fn config_products_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(web::resource("/products:batch").route(web::get().to(batch)))
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    );
}

/// The product with its version as a strong `ETag`.
fn product_response(status: StatusCode, model: &Model) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(model.version)))
        .json(repo::snapshot(model))
}

fn stale(current: i64) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "version-mismatch",
        format!("The product was changed meanwhile; its current version is {current}."),
    )
}

fn product_not_found() -> ApiError {
    ApiError::not_found("No such product.")
}

impl From<CreateError> for ApiError {
    fn from(error: CreateError) -> Self {
        match error {
            CreateError::Invalid(errors) => ApiError::validation(errors),
            CreateError::Unexpected(e) => unexpected(e),
        }
    }
}

impl From<UpdateError> for ApiError {
    fn from(error: UpdateError) -> Self {
        match error {
            UpdateError::Invalid(errors) => ApiError::validation(errors),
            UpdateError::Stale { current } => stale(current),
            UpdateError::NotFound => product_not_found(),
            UpdateError::Unexpected(e) => unexpected(e),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(error: DeleteError) -> Self {
        match error {
            DeleteError::Stale { current } => stale(current),
            DeleteError::NotFound => product_not_found(),
            DeleteError::Unexpected(e) => unexpected(e),
        }
    }
}

/// Add a product (admins).
#[utoipa::path(post, path = "/api/v1/products", tag = "products", security(("bearer" = [])),
    request_body = CreateProduct,
    responses(
        (status = 201, description = "Created; `Location` and `ETag` set", body = ProductSnapshot),
        (status = 401), (status = 403), (status = 422, body = shared::http::problem::Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateProduct>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let model = state.catalogue.create(body.into_inner()).await?;
    tracing::info!(product_id = %model.id, "product created");
    let mut response = product_response(StatusCode::CREATED, &model);
    let location = header::HeaderValue::from_str(&format!("/api/v1/products/{}", model.id))
        .map_err(|e| ApiError::internal(e.into()))?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// One product (public). Answered from memory while fresh (see `repository::cached`);
/// `If-None-Match` with the current ETag gets 304.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path), ("If-None-Match" = Option<String>, Header, description = "ETag already held")),
    responses((status = 200, description = "With `ETag`", body = ProductSnapshot), (status = 304),
        (status = 400), (status = 404)))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let product = state
        .cache
        .get(&state.db, id.into_inner())
        .await
        .map_err(unexpected)?
        .ok_or_else(product_not_found)?;
    let etag = etag(product.version);
    if holds(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .insert_header(header::ContentType::json())
        .body(product.body.clone()))
}

/// Filters and paging of the product list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this category (exact).
    pub category: Option<String>,
    /// Only products with this tag.
    pub tag: Option<String>,
    /// Only active (`true`) or inactive (`false`) products.
    pub active: Option<bool>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of products.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductSnapshot>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Products in a stable order (creation), filtered, a page at a time (public).
#[utoipa::path(get, path = "/api/v1/products", tag = "products", params(ListQuery),
    responses((status = 200, body = ProductPage), (status = 400)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = pagination::limit(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = Filter {
        category: query.category,
        tag: query.tag,
        active: query.active,
    };
    let rows = repo::list(&state.db, &filter, after, limit + 1)
        .await
        .map_err(unexpected)?;
    let (rows, next_cursor) = paginate(rows, limit, |p| p.id);
    let items = rows.iter().map(repo::snapshot).collect();
    Ok(HttpResponse::Ok().json(ProductPage { items, next_cursor }))
}

/// Ids for a batch read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchQuery {
    /// Comma-separated product ids (at most 200).
    pub ids: String,
}

/// The products found, in the order asked, and the ids not found.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductBatch {
    pub items: Vec<ProductSnapshot>,
    pub missing: Vec<Uuid>,
}

fn parse_ids(raw: &str) -> Result<Vec<Uuid>, ApiError> {
    let mut ids: Vec<Uuid> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = part
            .parse()
            .map_err(|_| ApiError::bad_request(format!("ids: `{part}` is not a UUID.")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    match ids.len() {
        0 => Err(ApiError::bad_request("ids: give at least one product id.")),
        n if n > MAX_BATCH => Err(ApiError::bad_request(format!(
            "ids: at most {MAX_BATCH} per request."
        ))),
        _ => Ok(ids),
    }
}

/// Many products by id in one call, e.g. to show a recommendation list (public).
#[utoipa::path(get, path = "/api/v1/products:batch", tag = "products", params(BatchQuery),
    responses((status = 200, body = ProductBatch), (status = 400)))]
pub async fn batch(
    state: web::Data<AppState>,
    query: web::Query<BatchQuery>,
) -> Result<HttpResponse, ApiError> {
    let ids = parse_ids(&query.ids)?;
    let found = repo::find_many(&state.db, &ids).await.map_err(unexpected)?;
    let mut items = Vec::with_capacity(found.len());
    let mut missing = Vec::new();
    for id in ids {
        match found.iter().find(|p| p.id == id) {
            Some(model) => items.push(repo::snapshot(model)),
            None => missing.push(id),
        }
    }
    Ok(HttpResponse::Ok().json(ProductBatch { items, missing }))
}

/// Change a product (admins). Needs `If-Match: "<version>"` (or `version`); a stale version
/// gets 412 and changes nothing.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag of the version changed")),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "With the new `ETag`", body = ProductSnapshot),
        (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 412, description = "Stale version", body = shared::http::problem::Problem),
        (status = 422, body = shared::http::problem::Problem),
        (status = 428, description = "No If-Match or version", body = shared::http::problem::Problem),
    ))]
#[tracing::instrument(skip(state, req, body), fields(product_id = %id))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: Json<UpdateProduct>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let request = body.into_inner();
    let expected = expected(&req, request.version)?;
    let model = state.catalogue.update(id.into_inner(), expected, request).await?;
    Ok(product_response(StatusCode::OK, &model))
}

/// Remove a product (admins); `If-Match` is optional here. Publishes `product_deleted`.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 401), (status = 403), (status = 404), (status = 412)))]
#[tracing::instrument(skip(state, req), fields(product_id = %id))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let expected = expected_if_any(&req)?;
    state.catalogue.delete(id.into_inner(), expected).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_parsed_deduplicated_and_bounded() {
        let a = Uuid::now_v7();
        assert_eq!(parse_ids(&format!("{a}, {a},")).unwrap(), vec![a]);
        assert!(parse_ids("nope").is_err());
        assert!(parse_ids(" , ").is_err());
        let many: Vec<String> = (0..201).map(|_| Uuid::now_v7().to_string()).collect();
        assert!(parse_ids(&many.join(",")).is_err());
    }
}
