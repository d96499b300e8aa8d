//! The overview: the pipeline's figures and charts, refreshed every 2 s by the page's script
//! (it swaps in `/overview/live`, no reload).
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{here, html, AppState, ConsoleError, Layout, Operator, Part};
use crate::domain::charts::{line_chart, Line, XAxis};
use crate::domain::overview::{self as series, History};
use crate::domain::platform::AllTime;
use crate::domain::views::figure;
use crate::repository::services::Service;

/// Mounts `/` and `/overview/live`.
pub fn config_overview_pages(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/overview/live", web::get().to(live));
}

/// One figure of the overview.
pub struct Figure {
    pub id: &'static str,
    pub label: &'static str,
    pub value: String,
}

/// A service's state on the overview.
pub struct ServiceState {
    pub name: &'static str,
    pub up: bool,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "overview_live.html")]
struct Live {
    figures: Vec<Figure>,
    services: Vec<ServiceState>,
    totals: Part<AllTime>,
    charts: Vec<String>,
    source: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    live: String,
}

async fn page(
    state: web::Data<AppState>,
    operator: Operator,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let live = build(&state, &operator, &here(&req)).await?;
    let live = live.render().map_err(|e| {
        ConsoleError::Unexpected(anyhow::Error::new(e).context("Failed to render the overview"))
    })?;
    html(&OverviewPage {
        layout: Layout::new("Overview", "overview", &operator),
        live,
    })
}

async fn live(state: web::Data<AppState>, operator: Operator) -> Result<HttpResponse, ConsoleError> {
    html(&build(&state, &operator, "/").await?)
}

async fn build(state: &AppState, operator: &Operator, next: &str) -> Result<Live, ConsoleError> {
    let services = &state.services;
    let (alive, totals, history) = tokio::join!(
        futures_util::future::join_all(Service::ALL.iter().map(|s| services.alive(*s))),
        services.summary(operator.token(), "24h"),
        state.metrics.history(),
    );
    let services = Service::ALL
        .iter()
        .zip(alive)
        .map(|(service, result)| ServiceState {
            name: service.name(),
            up: result.is_ok(),
            detail: match result {
                Ok(()) => "up".to_owned(),
                Err(e) => e.to_string(),
            },
        })
        .collect();
    Ok(Live {
        figures: figures(&history),
        services,
        totals: Part::of(totals.map(|s| s.all_time), next)?,
        charts: charts(&history)?,
        source: state.metrics.describe(),
        updated: chrono::Utc::now().format("%H:%M:%S UTC").to_string(),
    })
}

/// The latest value of every series, in words.
fn figures(history: &History) -> Vec<Figure> {
    let latest = |name| history.latest(name);
    let percent = latest(series::CACHE_HIT_RATIO).map(|r| r * 100.0);
    vec![
        Figure {
            id: "actions",
            label: "Actions ingested",
            value: figure(latest(series::ACTIONS_PER_S), "/s"),
        },
        Figure {
            id: "lag-recommender",
            label: "Consumer lag, recommender",
            value: figure(latest(series::LAG_RECOMMENDER), "messages"),
        },
        Figure {
            id: "lag-analytics",
            label: "Consumer lag, analytics",
            value: figure(latest(series::LAG_ANALYTICS), "messages"),
        },
        Figure {
            id: "flush",
            label: "Flush, recommender / analytics",
            value: format!(
                "{} / {}",
                figure(latest(series::FLUSH_MS_RECOMMENDER), "ms"),
                figure(latest(series::FLUSH_MS_ANALYTICS), "ms")
            ),
        },
        Figure {
            id: "freshness",
            label: "Freshness p50 / p99",
            value: format!(
                "{} / {}",
                figure(latest(series::FRESHNESS_P50), "s"),
                figure(latest(series::FRESHNESS_P99), "s")
            ),
        },
        Figure {
            id: "cache-hits",
            label: "Lists from cache",
            value: figure(percent, "%"),
        },
    ]
}

/// The four charts of the last minutes (x: minutes before now).
fn charts(history: &History) -> Result<Vec<String>, ConsoleError> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let line = |label, name| Line {
        label,
        points: history
            .points(name)
            .into_iter()
            .map(|(t, v)| (t - now, v))
            .collect(),
    };
    let specs: [(&str, Vec<Line<'_>>); 4] = [
        (
            "Actions ingested per second",
            vec![line("actions/s", series::ACTIONS_PER_S)],
        ),
        (
            "Consumer lag (messages)",
            vec![
                line("recommender", series::LAG_RECOMMENDER),
                line("analytics", series::LAG_ANALYTICS),
            ],
        ),
        (
            "Flush duration (ms)",
            vec![
                line("recommender", series::FLUSH_MS_RECOMMENDER),
                line("analytics", series::FLUSH_MS_ANALYTICS),
            ],
        ),
        (
            "Freshness (s)",
            vec![
                line("p50", series::FRESHNESS_P50),
                line("p99", series::FRESHNESS_P99),
            ],
        ),
    ];
    specs
        .into_iter()
        .map(|(title, lines)| {
            // A series without points yet draws nothing (and no legend entry).
            let lines: Vec<Line<'_>> = lines.into_iter().filter(|l| !l.points.is_empty()).collect();
            line_chart(title, &lines, XAxis::MinutesAgo, 560, 240).map_err(ConsoleError::Unexpected)
        })
        .collect()
}
