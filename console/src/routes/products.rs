//! Products: browse and filter the catalogue; a product's page with its similar products and
//! its statistics chart.
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{here, html, urlencode, AppState, ConsoleError, Layout, Operator, Part};
use crate::domain::charts::{line_chart, XAxis};
use crate::domain::platform::Product;
use crate::domain::views::{activity_lines, conversion, fill_buckets, name_of, price};
use crate::repository::services::CallError;

/// The windows a product's chart offers: name, bucket, length and bucket width in seconds.
const WINDOWS: [(&str, &str, i64, i64); 3] = [
    ("24h", "hour", 86_400, 3_600),
    ("7d", "day", 7 * 86_400, 86_400),
    ("30d", "day", 30 * 86_400, 86_400),
];

/// Mounts `/products` and `/products/{id}`.
pub fn config_product_pages(cfg: &mut web::ServiceConfig) {
    cfg.route("/products", web::get().to(list))
        .route("/products/{id}", web::get().to(product));
}

#[derive(Deserialize)]
pub struct ListQuery {
    category: Option<String>,
    cursor: Option<String>,
}

/// A catalogue row.
pub struct ProductRow {
    pub id: Uuid,
    pub name: String,
    pub category: String,
    pub price: String,
    pub stock: i32,
    pub active: bool,
}

impl From<&Product> for ProductRow {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            category: p.category.clone(),
            price: price(p),
            stock: p.stock,
            active: p.active,
        }
    }
}

#[derive(Template)]
#[template(path = "products.html")]
struct ProductsPage {
    layout: Layout,
    category: String,
    rows: Part<Vec<ProductRow>>,
    next: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let category = query.category.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let page = state
        .services
        .products(category, query.cursor.as_deref(), 25)
        .await;
    let next = page.as_ref().ok().and_then(|p| p.next_cursor.clone()).map(|c| {
        let filter = category
            .map(|c| format!("&category={}", urlencode(c)))
            .unwrap_or_default();
        format!("/products?cursor={}{filter}", urlencode(&c))
    });
    html(&ProductsPage {
        layout: Layout::new("Products", "products", &operator),
        category: category.unwrap_or("").to_owned(),
        rows: Part::of(
            page.map(|p| p.items.iter().map(ProductRow::from).collect()),
            &here(&req),
        )?,
        next,
    })
}

#[derive(Deserialize)]
pub struct ProductQuery {
    window: Option<String>,
}

/// A similar product.
pub struct SimilarRow {
    pub id: Uuid,
    pub name: String,
    pub score: String,
}

/// The product's statistics.
pub struct Stats {
    pub chart: String,
    pub conversion: String,
    pub views: i64,
    pub purchases: i64,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    product: Product,
    price: String,
    similar: Part<Vec<SimilarRow>>,
    stats: Part<Stats>,
    window: &'static str,
    windows: Vec<&'static str>,
}

async fn product(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
    id: web::Path<Uuid>,
    query: web::Query<ProductQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let id = id.into_inner();
    let next = here(&req);
    let requested = query.window.as_deref().unwrap_or("24h");
    let Some(&(window, bucket, length, step)) = WINDOWS.iter().find(|(w, ..)| *w == requested) else {
        return Err(ConsoleError::BadRequest(format!(
            "Unknown window {requested:?}: 24h, 7d or 30d."
        )));
    };
    let services = &state.services;
    let token = operator.token();
    let (product, similar, series) = tokio::join!(
        services.product(id),
        services.similar(token, id, 8),
        services.product_series(token, id, window, bucket),
    );
    let product = match product {
        Ok(product) => product,
        Err(CallError::NotFound) => return Err(ConsoleError::NotFound("That product")),
        Err(e) => {
            return Err(ConsoleError::BadRequest(format!(
                "The product cannot be shown: {e}."
            )))
        }
    };
    let similar = match similar {
        Ok(items) => {
            let ids: Vec<Uuid> = items.iter().map(|s| s.product_id).collect();
            let names: HashMap<Uuid, Product> = services.products_by_id(&ids).await.unwrap_or_default();
            Ok(items
                .iter()
                .map(|s| SimilarRow {
                    id: s.product_id,
                    name: name_of(&names, s.product_id),
                    score: format!("{:.3}", s.score),
                })
                .collect())
        }
        Err(e) => Err(e),
    };
    let stats = match series {
        Ok(series) => {
            let title = format!("Per {bucket}, last {window}");
            let now = chrono::Utc::now().timestamp();
            let buckets = fill_buckets(&series.items, now - length, now, step);
            let chart = line_chart(
                &title,
                &activity_lines(&buckets),
                XAxis::Dates {
                    hourly: bucket == "hour",
                },
                720,
                280,
            )?;
            Ok(Stats {
                chart,
                conversion: conversion(&series.items),
                views: series.items.iter().map(|b| b.views).sum(),
                purchases: series.items.iter().map(|b| b.purchases).sum(),
            })
        }
        Err(e) => Err(e),
    };
    html(&ProductPage {
        layout: Layout::new(product.name.clone(), "products", &operator),
        price: price(&product),
        product,
        similar: Part::of(similar, &next)?,
        stats: Part::of(stats, &next)?,
        window,
        windows: WINDOWS.iter().map(|(w, ..)| *w).collect(),
    })
}
