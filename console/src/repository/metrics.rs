//! The overview's history: sampled by the console from the services' `/metrics`, or asked from
//! Prometheus' HTTP API when one is configured (it keeps more, and survives console restarts).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::services::{Service, Services};
use crate::domain::overview::{derive, promql, History, Raw, SERIES};

/// Where the overview's series come from.
#[derive(Clone)]
pub enum MetricsSource {
    /// The console's own samples.
    Sampled(Arc<Mutex<History>>),
    /// Prometheus at this base URL, over this many minutes.
    Prometheus {
        http: reqwest::Client,
        url: String,
        minutes: u64,
    },
}

impl MetricsSource {
    /// Prometheus when `prometheus_url` is set, else a sampler started now (it runs as long as
    /// the process; a service that does not answer only leaves gaps).
    pub fn start(
        services: Services,
        prometheus_url: &str,
        interval: Duration,
        capacity: usize,
        minutes: u64,
    ) -> anyhow::Result<Self> {
        if !prometheus_url.is_empty() {
            return Ok(Self::Prometheus {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()?,
                url: prometheus_url.trim_end_matches('/').to_owned(),
                minutes,
            });
        }
        let history = Arc::new(Mutex::new(History::new(capacity)));
        tokio::spawn(sample(services, interval, history.clone()));
        Ok(Self::Sampled(history))
    }

    /// The series as they are now.
    pub async fn history(&self) -> History {
        match self {
            Self::Sampled(history) => history.lock().map(|h| h.clone()).unwrap_or_default(),
            Self::Prometheus { http, url, minutes } => {
                // One range query per series, all at once (the page waits for the slowest).
                let answers = futures_util::future::join_all(
                    SERIES.iter().map(|name| query_range(http, url, name, *minutes)),
                )
                .await;
                let mut history = History::new(usize::MAX);
                for (name, answer) in SERIES.into_iter().zip(answers) {
                    match answer {
                        Ok(points) => {
                            for (at, value) in points {
                                history.push(at, &[(name, value)]);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error.cause_chain = ?e, series = name, "Prometheus query failed")
                        }
                    }
                }
                history
            }
        }
    }

    /// Where the figures come from, for the page.
    pub fn describe(&self) -> String {
        match self {
            Self::Sampled(_) => "sampled by the console from each service's /metrics".to_owned(),
            Self::Prometheus { url, .. } => format!("Prometheus at {url}"),
        }
    }
}

/// Scrapes the services every `interval` and appends the derived values.
async fn sample(services: Services, interval: Duration, history: Arc<Mutex<History>>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<Raw> = None;
    loop {
        ticker.tick().await;
        let raw = scrape(&services).await;
        if let Some(previous) = &previous {
            let values = derive(previous, &raw);
            if let Ok(mut history) = history.lock() {
                history.push(raw.at, &values);
            }
        }
        previous = Some(raw);
    }
}

/// One round: every service's `/metrics`, concurrently (one that does not answer adds nothing).
async fn scrape(services: &Services) -> Raw {
    let at = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let texts = futures_util::future::join_all(Service::ALL.iter().map(|s| services.metrics(*s))).await;
    let mut raw = Raw { at, ..Raw::default() };
    for (service, text) in Service::ALL.iter().zip(texts) {
        let Ok(text) = text else { continue };
        match prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))) {
            Ok(scrape) => raw.absorb(service.name(), &scrape.samples),
            Err(e) => tracing::warn!(error = %e, service = service.name(), "unreadable /metrics"),
        }
    }
    raw
}

#[derive(Deserialize)]
struct RangeAnswer {
    data: RangeData,
}

#[derive(Deserialize)]
struct RangeData {
    result: Vec<RangeSeries>,
}

#[derive(Deserialize)]
struct RangeSeries {
    values: Vec<(f64, String)>,
}

/// One series over the last `minutes`, a point every 15 s.
async fn query_range(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    minutes: u64,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let query = promql(name).context("unknown series")?;
    let end = chrono::Utc::now().timestamp();
    let start = end - (minutes as i64) * 60;
    let answer: RangeAnswer = http
        .get(format!("{url}/api/v1/query_range"))
        .query(&[
            ("query", query.to_owned()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", "15".to_owned()),
        ])
        .send()
        .await
        .context("Prometheus did not answer")?
        .error_for_status()
        .context("Prometheus refused the query")?
        .json()
        .await
        .context("Prometheus' answer is unreadable")?;
    Ok(answer
        .data
        .result
        .first()
        .map(|s| {
            s.values
                .iter()
                .filter_map(|(t, v)| v.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| (*t, v)))
                .collect()
        })
        .unwrap_or_default())
}
