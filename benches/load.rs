//! The load suite (run it with `benches/load/run`, which starts the system natively first):
//! seeds realistic data through the public APIs, measures three ceilings on this machine (a bare
//! actix-web handler returning the same bytes, `redis-benchmark` GET, Kafka's own
//! `ProducerPerformance` with our messages and producer settings), then attacks each workload
//! with wrk (peak throughput) and Vegeta (latency at a fixed rate), samples freshness from
//! the recommender's histogram, and writes the report into docs/benchmarks.md.
//!
//!     benches/load/run                   # LOAD_SECONDS=10 per attack by default
//!
//! By job: `load/seed.rs`, `load/targets.rs`, `load/ceilings.rs`, `load/attack.rs` (with
//! `load/cpu.rs`) and `load/report.rs`.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::prelude::{Engine as _, BASE64_STANDARD};
use benchmarks::{histogram_quantile, subtract_histogram, wrk_with, WrkResult};
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use shared::auth::Role;
use uuid::Uuid;

#[path = "load/cpu.rs"]
mod cpu;
use cpu::CpuShare;
#[path = "load/seed.rs"]
mod seed;
use seed::*;
#[path = "load/targets.rs"]
mod targets;
use targets::*;
#[path = "load/ceilings.rs"]
mod ceilings;
use ceilings::*;
#[path = "load/attack.rs"]
mod attack;
use attack::*;
#[path = "load/report.rs"]
mod report;
use report::*;

/// The development service keys: posting actions (users) and reading (recommender, analytics).
const INGEST_KEY: &str = "local-development-ingest-key";
const READ_KEY: &str = "local-development-read-key";

/// The service key a request to `base` needs.
fn key_for(base: &str) -> &'static str {
    if base == USERS_URL {
        INGEST_KEY
    } else {
        READ_KEY
    }
}
const USERS_URL: &str = "http://127.0.0.1:8081";
const PRODUCTS_URL: &str = "http://127.0.0.1:8082";
const RECOMMENDER_URL: &str = "http://127.0.0.1:8083";
const ANALYTICS_URL: &str = "http://127.0.0.1:8084";
const CATEGORIES: usize = 25;
/// Actions per request of the batched ingestion workload (the API's maximum).
const BATCH: usize = 500;
/// wrk's shape for every peak measurement, the ceiling included.
const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 32;
const INGESTION_CONNECTIONS: u32 = 128;
const REPORT_BEGIN: &str = "<!-- load-suite:begin -->";
const REPORT_END: &str = "<!-- load-suite:end -->";

/// Sizes and durations, from the environment (see benches/load/run).
struct Plan {
    users: usize,
    products: usize,
    actions: usize,
    seconds: u32,
    /// Vegeta's rate for the latency runs (capped at half of each peak): one the generator can
    /// send on this box while sharing its cores with the system.
    fixed_rate: f64,
    out: PathBuf,
    root: PathBuf,
}

impl Plan {
    fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        Self {
            users: number("LOAD_USERS", 2_000),
            products: number("LOAD_PRODUCTS", 2_000),
            actions: number("LOAD_ACTIONS", 200_000),
            seconds: number("LOAD_SECONDS", 10) as u32,
            fixed_rate: number("LOAD_FIXED_RATE", 5_000) as f64,
            out: root.join("benches/load/out"),
            root,
        }
    }
}

/// One measured workload.
struct Outcome {
    name: &'static str,
    what: String,
    peak: WrkResult,
    /// Items per request (actions per batch), to turn requests/s into actions/s.
    items: usize,
    /// Vegeta at the fixed rate (or half of peak, if lower).
    half: Option<VegetaResult>,
    histogram: String,
    /// CPU by process during the peak run.
    cpu: CpuShare,
    /// The freshness histogram observed during that Vegeta run.
    freshness_window: Option<String>,
}

/// Vegeta's JSON report, in milliseconds.
struct VegetaResult {
    /// Asked for (0: as fast as possible) and achieved request rates.
    requested: f64,
    rate: f64,
    throughput: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    success: f64,
    errors: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let plan = Plan::from_env();
    std::fs::create_dir_all(&plan.out)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()?;
    for base in [USERS_URL, PRODUCTS_URL, RECOMMENDER_URL, ANALYTICS_URL] {
        let ready = client.get(format!("{base}/ready")).send().await;
        if !ready.is_ok_and(|r| r.status().is_success()) {
            bail!("{base} is not ready: start the system with scripts/run up (benches/load/run does)");
        }
    }
    let started = Instant::now();
    let saved = plan.out.join("seed.json");
    // LOAD_REUSE_SEED=1 attacks what an earlier run seeded into the same system.
    let seeded = match std::env::var("LOAD_REUSE_SEED").ok().filter(|v| v == "1") {
        Some(_) => {
            benchmarks::wait_until_drained(&[RECOMMENDER_URL, ANALYTICS_URL]).await?;
            serde_json::from_slice(&std::fs::read(&saved).context("no earlier seed")?)?
        }
        None => {
            let seeded = seed(&client, &plan).await?;
            std::fs::write(&saved, serde_json::to_vec(&seeded)?)?;
            seeded
        }
    };
    let seeding = started.elapsed().as_secs_f64();
    eprintln!("seeded in {seeding:.0} s");

    let targets = write_targets(&plan, &seeded)?;
    let ceilings = measure_ceilings(&plan, &seeded).await?;
    eprintln!("ceilings: {ceilings:?}");

    let mut outcomes = Vec::new();
    let mut freshness = Vec::new();
    for (name, what, items) in WORKLOADS {
        let outcome = attack(&plan, &targets, name, what, *items)?;
        if let Some(window) = &outcome.freshness_window {
            freshness.push((
                *name,
                histogram_quantile(window, "recommendation_freshness_seconds", 0.5),
                histogram_quantile(window, "recommendation_freshness_seconds", 0.99),
            ));
        }
        eprintln!(
            "{name}: {:.0} req/s p99 {:.2} ms",
            outcome.peak.requests_per_second, outcome.peak.p99_ms
        );
        outcomes.push(outcome);
    }
    let drain = drain_time(Duration::from_secs(120)).await;
    let lag = lag_after().await;
    let alone = ingestion_alone(&plan, &targets)?;
    eprintln!(
        "actions_single, consumers paused: {:.0} req/s",
        alone.0.requests_per_second
    );
    let backlog = Backlog { drain, lag, alone };
    let report = report(&plan, &seeded, seeding, &ceilings, &outcomes, &freshness, backlog);
    benchmarks::replace_section(
        &plan.root.join("docs/benchmarks.md"),
        REPORT_BEGIN,
        REPORT_END,
        &report,
    )?;
    println!("{report}");
    Ok(())
}
