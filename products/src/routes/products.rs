//! The catalogue: public reads, admin writes with optimistic concurrency (`ETag`/`If-Match`).
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::auth::Caller;
use shared::db::unexpected;
use shared::events::product::ProductSnapshot;
use shared::http::pagination::{self, decode_cursor, paginate};
use shared::http::validation::Errors;
use shared::http::{ApiError, Json};
use uuid::Uuid;

use super::AppState;
use crate::domain::product as parse;
use crate::entity::products::Model;
use crate::repository::products::{self as repo, Changes, Filter, NewProduct, Outcome};

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

/// A price as sent: the amount is a string so it stays exact.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Non-negative decimal string with at most 4 fractional digits, e.g. `"19.99"`.
    pub amount: String,
    /// ISO 4217, e.g. `EUR`.
    pub currency: String,
}

/// A new product.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    /// 1 to 200 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 1 to 64 characters; compared exactly.
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub price: PriceInput,
    /// Default 0.
    #[serde(default)]
    pub stock: i64,
    /// Default true; inactive products are never recommended.
    #[serde(default = "default_active")]
    pub active: bool,
    /// A JSON object (at most 64 keys); default `{}`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub attributes: Value,
}

fn default_active() -> bool {
    true
}
fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A partial update. The expected version comes from `If-Match` or from `version`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Option<Vec<String>>,
    pub price: Option<PriceInput>,
    pub stock: Option<i64>,
    pub active: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    /// The version this change is based on (alternative to `If-Match`).
    pub version: Option<i64>,
}

fn parse_new(request: CreateProduct) -> Result<NewProduct, ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", parse::name(&request.name));
    let description = errors.check("description", parse::description(&request.description));
    let category = errors.check("category", parse::category(&request.category));
    let tags = errors.check("tags", parse::tags(&request.tags));
    let amount = errors.check("price.amount", parse::amount(&request.price.amount));
    let currency = errors.check("price.currency", parse::currency(&request.price.currency));
    let stock = errors.check("stock", parse::stock(request.stock));
    let attributes = errors.check("attributes", parse::attributes(request.attributes));
    errors.finish()?;
    match (
        name,
        description,
        category,
        tags,
        amount,
        currency,
        stock,
        attributes,
    ) {
        (
            Some(name),
            Some(description),
            Some(category),
            Some(tags),
            Some(price_amount),
            Some(price_currency),
            Some(stock),
            Some(attributes),
        ) => Ok(NewProduct {
            name,
            description,
            category,
            tags,
            price_amount,
            price_currency,
            stock,
            active: request.active,
            attributes,
        }),
        _ => Err(ApiError::internal(anyhow::anyhow!("validated fields missing"))),
    }
}

fn parse_changes(request: UpdateProduct) -> Result<Changes, ApiError> {
    let mut errors = Errors::default();
    let price = request.price.map(|p| {
        let amount = errors.check("price.amount", parse::amount(&p.amount));
        let currency = errors.check("price.currency", parse::currency(&p.currency));
        amount.zip(currency)
    });
    let changes = Changes {
        name: request.name.and_then(|v| errors.check("name", parse::name(&v))),
        description: request
            .description
            .and_then(|v| errors.check("description", parse::description(&v))),
        category: request
            .category
            .and_then(|v| errors.check("category", parse::category(&v))),
        tags: request.tags.and_then(|v| errors.check("tags", parse::tags(&v))),
        price: price.flatten(),
        stock: request.stock.and_then(|v| errors.check("stock", parse::stock(v))),
        active: request.active,
        attributes: request
            .attributes
            .and_then(|v| errors.check("attributes", parse::attributes(v))),
    };
    errors.finish()?;
    Ok(changes)
}

/// The product with its version as a strong `ETag`.
fn product_response(status: StatusCode, model: &Model) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(model.version)))
        .json(repo::snapshot(model))
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// What `If-Match` asks for.
#[derive(Debug, PartialEq)]
enum Precondition {
    /// `If-Match: *`: any existing version.
    Any,
    Version(i64),
}

/// Reads `If-Match` (one strong entity tag, or `*`).
fn if_match(req: &HttpRequest) -> Result<Option<Precondition>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(Some(Precondition::Any));
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| Some(Precondition::Version(v)))
        .ok_or_else(|| ApiError::bad_request("If-Match must be `*` or one ETag of this API, e.g. \"3\"."))
}

/// The version a write expects: `Some(v)`, or `None` for "whatever is current".
fn expected_version(header: Option<Precondition>, body: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (header, body) {
        (Some(Precondition::Version(h)), Some(b)) if h != b => {
            Err(ApiError::bad_request("If-Match and version disagree."))
        }
        (Some(Precondition::Version(v)), _) | (None, Some(v)) | (Some(Precondition::Any), Some(v)) => Ok(Some(v)),
        (Some(Precondition::Any), None) => Ok(None),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Send If-Match with the product's ETag (or a version field), so a concurrent change is not overwritten.",
        )),
    }
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
    let new = parse_new(body.into_inner())?;
    let model = repo::insert(&state.db, new).await.map_err(unexpected)?;
    state.outbox.wake();
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

/// Whether `If-None-Match` names `etag` (or is `*`): the client's copy is current.
fn holds(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
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
    let id = id.into_inner();
    let request = body.into_inner();
    let expected = expected_version(if_match(&req)?, request.version)?;
    let changes = parse_changes(request)?;
    let expected = match expected {
        Some(version) => version,
        None => {
            repo::find(&state.db, id)
                .await
                .map_err(unexpected)?
                .ok_or_else(product_not_found)?
                .version
        }
    };
    match repo::update(&state.db, id, expected, changes)
        .await
        .map_err(unexpected)?
    {
        Outcome::Done(model) => {
            state.cache.forget(id);
            state.outbox.wake();
            Ok(product_response(StatusCode::OK, &model))
        }
        Outcome::Stale { current } => Err(stale(current)),
        Outcome::NotFound => Err(product_not_found()),
    }
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
    let expected = match if_match(&req)? {
        Some(Precondition::Version(v)) => Some(v),
        Some(Precondition::Any) | None => None,
    };
    let id = id.into_inner();
    match repo::delete(&state.db, id, expected).await.map_err(unexpected)? {
        Outcome::Done(()) => {
            state.cache.forget(id);
            state.outbox.wake();
            Ok(HttpResponse::NoContent().finish())
        }
        Outcome::Stale { current } => Err(stale(current)),
        Outcome::NotFound => Err(product_not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_version_comes_from_if_match_or_the_body() {
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), None).unwrap(),
            Some(3)
        );
        assert_eq!(expected_version(None, Some(4)).unwrap(), Some(4));
        assert_eq!(expected_version(Some(Precondition::Any), None).unwrap(), None);
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), Some(3)).unwrap(),
            Some(3)
        );
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), Some(4))
                .unwrap_err()
                .problem()
                .status,
            400
        );
        assert_eq!(expected_version(None, None).unwrap_err().problem().status, 428);
    }

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
