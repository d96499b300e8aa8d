//! Analytics: top products and categories by metric and window, active users and totals.
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{here, html, AppState, ConsoleError, Layout, Operator, Part};
use crate::domain::platform::{Product, RankedRow, Summary};
use crate::domain::views::name_of;

/// What analytics ranks by, and its windows (the values its API accepts).
const METRICS: [&str; 6] = [
    "views",
    "clicks",
    "add_to_cart",
    "purchases",
    "ratings",
    "conversion",
];
const WINDOWS: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// Mounts `/analytics`.
pub fn config_analytics_pages(cfg: &mut web::ServiceConfig) {
    cfg.route("/analytics", web::get().to(page));
}

#[derive(Deserialize)]
pub struct AnalyticsQuery {
    metric: Option<String>,
    window: Option<String>,
}

/// One ranked product or category.
pub struct Row {
    pub rank: usize,
    pub id: Option<Uuid>,
    pub name: String,
    pub value: String,
    pub views: i64,
    pub purchases: i64,
}

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    layout: Layout,
    metric: &'static str,
    /// The metric's own column, unless it is one of the columns always shown.
    show_metric: bool,
    window: &'static str,
    metrics: [&'static str; 6],
    windows: [&'static str; 4],
    summary: Part<Summary>,
    products: Part<Vec<Row>>,
    categories: Part<Vec<Row>>,
}

/// One of `allowed`, or a 400 naming them.
fn pick(
    value: Option<&str>,
    default: &'static str,
    allowed: &[&'static str],
    what: &str,
) -> Result<&'static str, ConsoleError> {
    let value = value.unwrap_or(default);
    allowed.iter().find(|a| **a == value).copied().ok_or_else(|| {
        ConsoleError::BadRequest(format!(
            "Unknown {what} {value:?}: one of {}.",
            allowed.join(", ")
        ))
    })
}

fn rows(items: Vec<RankedRow>, names: &HashMap<Uuid, Product>, metric: &str) -> Vec<Row> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, r)| Row {
            rank: i + 1,
            id: r.product_id,
            name: match (r.product_id, r.category) {
                (Some(id), _) => name_of(names, id),
                (None, Some(category)) => category,
                (None, None) => String::new(),
            },
            value: if metric == "conversion" {
                format!("{:.1} %", r.value * 100.0)
            } else {
                format!("{:.0}", r.value)
            },
            views: r.views,
            purchases: r.purchases,
        })
        .collect()
}

async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let metric = pick(query.metric.as_deref(), "views", &METRICS, "metric")?;
    let window = pick(query.window.as_deref(), "24h", &WINDOWS, "window")?;
    let next = here(&req);
    let services = &state.services;
    let token = operator.token();
    let (summary, products, categories) = tokio::join!(
        services.summary(token, window),
        services.top(token, false, metric, window, 10),
        services.top(token, true, metric, window, 10),
    );
    let ids: Vec<Uuid> = products
        .as_ref()
        .map(|p| p.iter().filter_map(|r| r.product_id).collect())
        .unwrap_or_default();
    let names = services.products_by_id(&ids).await.unwrap_or_default();
    html(&AnalyticsPage {
        layout: Layout::new("Analytics", "analytics", &operator),
        metric,
        show_metric: !matches!(metric, "views" | "purchases"),
        window,
        metrics: METRICS,
        windows: WINDOWS,
        summary: Part::of(summary, &next)?,
        products: Part::of(products.map(|p| rows(p, &names, metric)), &next)?,
        categories: Part::of(categories.map(|c| rows(c, &names, metric)), &next)?,
    })
}
