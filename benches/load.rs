//! The load suite (run it with `benches/load/run`, which starts the system natively first):
//! seeds realistic data through the public APIs, measures three ceilings on this machine (a bare
//! actix-web handler returning the same bytes, `redis-benchmark` GET, Kafka's own
//! `ProducerPerformance` with our messages and producer settings), then attacks each workload
//! with wrk (peak throughput) and Vegeta (latency at half of that peak), samples freshness from
//! the recommender's histogram, and writes the report into docs/benchmarks.md.
//!
//!     benches/load/run                   # LOAD_SECONDS=10 per attack by default
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

// ---------------------------------------------------------------------------------------------
// Seeding

/// What seeding created and one real cached answer (the bytes the HTTP ceiling returns).
#[derive(serde::Serialize, serde::Deserialize)]
struct Seeded {
    users: Vec<Uuid>,
    products: Vec<Uuid>,
    cached_body: Vec<u8>,
    /// One action envelope as the users service publishes it (the Kafka ceiling's payload).
    envelope: String,
}

async fn seed(client: &reqwest::Client, plan: &Plan) -> anyhow::Result<Seeded> {
    let admin = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let run = Uuid::now_v7().simple().to_string();
    let products: Vec<Uuid> = stream::iter(0..plan.products)
        .map(|i| {
            let body = json!({
                "name": format!("Load product {i}"),
                "category": format!("Category {}", i % CATEGORIES),
                "tags": [format!("tag{}", i % 7)],
                "price": {"amount": format!("{}.99", 5 + i % 90), "currency": "EUR"},
                "stock": 100,
            });
            let request = client
                .post(format!("{PRODUCTS_URL}/api/v1/products"))
                .bearer_auth(&admin)
                .json(&body);
            async move { benchmarks::created_id(request).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    eprintln!("{} products", products.len());
    let users: Vec<Uuid> = stream::iter(0..plan.users)
        .map(|i| {
            let body = json!({
                "email": format!("load-{run}-{i}@example.com"),
                "password": "load test password",
                "display_name": format!("Shopper {i}"),
            });
            let request = client.post(format!("{USERS_URL}/api/v1/users")).json(&body);
            async move { benchmarks::created_id(request).await }
        })
        // Password hashing (argon2id) is deliberately slow: two at a time on two cores.
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    eprintln!("{} users", users.len());

    // Each user has a favourite category and otherwise follows global popularity.
    let per_user = plan.actions.div_ceil(plan.users.max(1));
    let batches: Vec<(Uuid, Vec<Value>)> = users
        .iter()
        .enumerate()
        .map(|(u, user)| {
            let actions = (0..per_user).map(|k| action(&products, u, k)).collect::<Vec<_>>();
            (*user, actions)
        })
        .collect();
    let mut accepted = 0;
    let mut posted = stream::iter(batches)
        .map(|(user, actions)| {
            let request = client
                .post(format!("{USERS_URL}/api/v1/users/{user}/actions"))
                .header("x-api-key", INGEST_KEY)
                .json(&actions);
            async move {
                let response = request.send().await?;
                anyhow::ensure!(response.status() == 202, "actions answered {}", response.status());
                Ok::<usize, anyhow::Error>(actions.len())
            }
        })
        .buffer_unordered(8);
    while let Some(count) = posted.next().await {
        accepted += count?;
    }
    eprintln!("{accepted} actions accepted; waiting for both pipelines");
    benchmarks::wait_until_drained(&[RECOMMENDER_URL, ANALYTICS_URL]).await?;

    // Fill the cache as readers would, and keep one answer.
    let mut cached_body = Vec::new();
    let mut reads = stream::iter(users.clone())
        .map(|user| {
            client
                .get(format!("{RECOMMENDER_URL}/api/v1/users/{user}/recommendations"))
                .header("x-api-key", READ_KEY)
                .send()
        })
        .buffer_unordered(16);
    while let Some(response) = reads.next().await {
        let bytes = response?.bytes().await?;
        if cached_body.is_empty() {
            cached_body = bytes.to_vec();
        }
    }
    let envelope = sample_envelope(&users, &products);
    Ok(Seeded {
        users,
        products,
        cached_body,
        envelope,
    })
}

/// The `k`-th action of user `u`: 70 % in the user's favourite category, the rest anywhere, both
/// skewed towards popular products; mostly views.
fn action(products: &[Uuid], u: usize, k: usize) -> Value {
    let r = |salt: u64| hash(u as u64, k as u64, salt);
    let n = products.len();
    let skewed = |x: f64, range: usize| ((x * x) * range as f64) as usize % range.max(1);
    let index = if r(1) < 0.7 {
        let per_category = n.div_ceil(CATEGORIES);
        let favourite = u % CATEGORIES;
        (favourite + CATEGORIES * skewed(r(2), per_category)) % n
    } else {
        skewed(r(3), n)
    };
    let kind = match r(4) {
        x if x < 0.70 => "view",
        x if x < 0.85 => "click",
        x if x < 0.93 => "add_to_cart",
        x if x < 0.97 => "purchase",
        _ => "rate",
    };
    let mut action = json!({"product_id": products[index], "action": kind});
    if kind == "rate" {
        action["value"] = json!(1 + (r(5) * 5.0) as u32 % 5);
    }
    action
}

/// A deterministic number in [0, 1) from three integers (splitmix64).
fn hash(a: u64, b: u64, salt: u64) -> f64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(salt.wrapping_mul(0x94D0_49BB_1331_11EB));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn sample_envelope(users: &[Uuid], products: &[Uuid]) -> String {
    let payload = shared::events::action::UserAction {
        user_id: users[0],
        product_id: products[0],
        action: shared::events::action::ActionKind::View,
        value: None,
        occurred_at: Utc::now(),
    };
    let event = shared::events::Envelope::new("user_action", users[0].to_string(), payload);
    serde_json::to_string(&event).unwrap_or_default()
}

/// How the ingestion bursts' backlog was worked off.
struct Backlog {
    /// Seconds until the recommender caught up after the last burst, or messages left.
    drain: Result<f64, i64>,
    /// Consumer lag (recommender + analytics) at the very end.
    lag: f64,
    /// `actions_single` with the consumers paused, measured after the drain.
    alone: (WrkResult, CpuShare),
}

/// From now (the end of the last ingestion burst) until the recommender's committed offsets
/// reach the end of `user_actions` (offsets are committed once their flush is durable, every
/// second): `Ok(seconds)`, or `Err(messages left)` after `limit`.
async fn drain_time(limit: Duration) -> Result<f64, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let started = Instant::now();
    let consumer: Option<BaseConsumer> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9092")
        .set("group.id", "recommender")
        .create()
        .ok();
    let Some(consumer) = consumer else { return Err(-1) };
    let left = || -> Option<i64> {
        let timeout = Duration::from_secs(5);
        let metadata = consumer.fetch_metadata(Some("user_actions"), timeout).ok()?;
        let partitions = metadata.topics().first()?.partitions().len() as i32;
        let mut list = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition("user_actions", p);
        }
        let committed = consumer.committed_offsets(list, timeout).ok()?;
        let mut left = 0;
        for p in 0..partitions {
            let (_, high) = consumer.fetch_watermarks("user_actions", p, timeout).ok()?;
            let done = committed
                .find_partition("user_actions", p)
                .and_then(|e| e.offset().to_raw())
                .unwrap_or(0)
                .max(0);
            left += (high - done).max(0);
        }
        Some(left)
    };
    let mut last = -1;
    while started.elapsed() < limit {
        match left() {
            Some(0) => return Ok(started.elapsed().as_secs_f64()),
            Some(n) => last = n,
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(last)
}

/// Consumer lag left once the attacks are over (the ingestion bursts' backlog).
async fn lag_after() -> f64 {
    let mut lag = 0.0;
    for base in [RECOMMENDER_URL, ANALYTICS_URL] {
        if let Ok(metrics) = text(&format!("{base}/metrics")).await {
            lag += gauge_sum(&metrics, "kafka_consumer_lag");
        }
    }
    lag
}

fn gauge_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET on a connection of its own: an attack leaves pooled connections that the server has
/// closed meanwhile.
async fn text(url: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    Ok(client.get(url).send().await?.text().await?)
}

// ---------------------------------------------------------------------------------------------
// Targets

/// The workloads in the order they run: reads first, then the mix, then ingestion (which
/// leaves a backlog behind it).
const WORKLOADS: &[(&str, &str, usize)] = &[
    (
        "recommendations_cached",
        "GET a seeded user's recommendations (Redis)",
        1,
    ),
    (
        "recommendations_cold",
        "GET recommendations of an unknown user (computed)",
        1,
    ),
    ("similar_products", "GET products similar to a seeded product", 1),
    ("product_reads", "GET a product from the catalogue", 1),
    (
        "analytics_reads",
        "GET product statistics, top products, summary",
        1,
    ),
    (
        "mixed",
        "60 % cached recs, 15 % products, 10 % analytics, 10 % single actions, 5 % cold recs",
        1,
    ),
    ("actions_single", "POST one action", 1),
    ("actions_batched", "POST a batch of 500 actions", BATCH),
];

/// For each workload: its wrk requests file (METHOD\tPATH\tBODY) and Vegeta targets file
/// (JSON lines), both under benches/load/out/.
struct Targets {
    dir: PathBuf,
}

impl Targets {
    fn wrk(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wrk"))
    }
    fn vegeta(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.vegeta.jsonl"))
    }
}

/// One request of a workload: (base URL, method, path, body).
type Request = (&'static str, &'static str, String, Option<String>);

fn requests(name: &str, seeded: &Seeded) -> Vec<Request> {
    let users = &seeded.users;
    let products = &seeded.products;
    let single = |i: usize| -> Request {
        let user = users[i % users.len()];
        let body = action(products, i % users.len(), 1_000_000 + i).to_string();
        (
            USERS_URL,
            "POST",
            format!("/api/v1/users/{user}/actions"),
            Some(body),
        )
    };
    match name {
        "recommendations_cached" => users
            .iter()
            .map(|u| {
                (
                    RECOMMENDER_URL,
                    "GET",
                    format!("/api/v1/users/{u}/recommendations"),
                    None,
                )
            })
            .collect(),
        "recommendations_cold" => (0..50_000)
            .map(|_| {
                let u = Uuid::new_v4();
                (
                    RECOMMENDER_URL,
                    "GET",
                    format!("/api/v1/users/{u}/recommendations"),
                    None,
                )
            })
            .collect(),
        "similar_products" => products
            .iter()
            .map(|p| {
                (
                    RECOMMENDER_URL,
                    "GET",
                    format!("/api/v1/products/{p}/similar"),
                    None,
                )
            })
            .collect(),
        "product_reads" => products
            .iter()
            .map(|p| (PRODUCTS_URL, "GET", format!("/api/v1/products/{p}"), None))
            .collect(),
        "analytics_reads" => products
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let path = match i % 4 {
                    0 | 1 => format!("/api/v1/analytics/products/{p}?window=24h&bucket=hour"),
                    2 => "/api/v1/analytics/products/top?window=24h&limit=20".to_owned(),
                    _ => "/api/v1/analytics/summary?window=24h".to_owned(),
                };
                (ANALYTICS_URL, "GET", path, None)
            })
            .collect(),
        "actions_single" => (0..20_000).map(single).collect(),
        "actions_batched" => (0..400)
            .map(|i| {
                let u = (i * 37) % users.len();
                let batch: Vec<Value> = (0..BATCH)
                    .map(|k| action(products, u, 2_000_000 + i * BATCH + k))
                    .collect();
                let user = users[u];
                (
                    USERS_URL,
                    "POST",
                    format!("/api/v1/users/{user}/actions"),
                    Some(Value::from(batch).to_string()),
                )
            })
            .collect(),
        // The mix is interleaved so every slice of the file has the same proportions.
        "mixed" => (0..20_000)
            .map(|i| {
                let user = users[(i * 13) % users.len()];
                let product = products[(i * 29) % products.len()];
                match i % 20 {
                    0..=11 => (
                        RECOMMENDER_URL,
                        "GET",
                        format!("/api/v1/users/{user}/recommendations"),
                        None,
                    ),
                    12..=14 => (PRODUCTS_URL, "GET", format!("/api/v1/products/{product}"), None),
                    15 => (
                        ANALYTICS_URL,
                        "GET",
                        "/api/v1/analytics/summary?window=24h".to_owned(),
                        None,
                    ),
                    16 => (
                        ANALYTICS_URL,
                        "GET",
                        format!("/api/v1/analytics/products/{product}?window=24h&bucket=hour"),
                        None,
                    ),
                    17 | 18 => single(i),
                    _ => {
                        let u = Uuid::new_v4();
                        (
                            RECOMMENDER_URL,
                            "GET",
                            format!("/api/v1/users/{u}/recommendations"),
                            None,
                        )
                    }
                }
            })
            .collect(),
        other => unreachable!("no workload {other}"),
    }
}

fn write_targets(plan: &Plan, seeded: &Seeded) -> anyhow::Result<Targets> {
    let targets = Targets {
        dir: plan.out.join("targets"),
    };
    std::fs::create_dir_all(&targets.dir)?;
    for (name, _, _) in WORKLOADS {
        let requests = requests(name, seeded);
        let mut wrk = String::new();
        let mut vegeta = String::new();
        for (base, method, path, body) in &requests {
            // wrk sends every request to the URL it was started with: one base per file,
            // except the mix, where the Vegeta file is the one that spans the services.
            writeln!(wrk, "{method}\t{path}\t{}", body.as_deref().unwrap_or(""))?;
            let mut target = json!({
                "method": method,
                "url": format!("{base}{path}"),
                "header": {"X-API-Key": [key_for(base)], "Content-Type": ["application/json"]},
            });
            if let Some(body) = body {
                target["body"] = json!(BASE64_STANDARD.encode(body));
            }
            writeln!(vegeta, "{target}")?;
        }
        std::fs::write(targets.wrk(name), wrk)?;
        std::fs::write(targets.vegeta(name), vegeta)?;
    }
    Ok(targets)
}

// ---------------------------------------------------------------------------------------------
// Ceilings

/// What this machine can do at best, measured in the same run.
#[derive(Debug)]
struct Ceilings {
    /// A bare actix-web handler returning a cached recommendation answer's bytes, under the
    /// same wrk shape and script as the cached reads.
    http: WrkResult,
    /// `redis-benchmark` GET of a value of the same size, requests/s.
    redis_get: f64,
    /// Kafka's ProducerPerformance with our envelopes and producer settings, records/s.
    kafka_records: f64,
    kafka_record_bytes: usize,
}

async fn measure_ceilings(plan: &Plan, seeded: &Seeded) -> anyhow::Result<Ceilings> {
    let http = http_ceiling(plan, seeded)?;
    let redis_get = redis_ceiling(seeded.cached_body.len())?;
    let (kafka_records, kafka_record_bytes) = kafka_ceiling(plan, seeded).await?;
    Ok(Ceilings {
        http,
        redis_get,
        kafka_records,
        kafka_record_bytes,
    })
}

/// Serves `cached_body` for every request from a bare actix-web server (two workers, like the
/// services on this machine) in its own thread, and runs the cached-read wrk against it.
fn http_ceiling(plan: &Plan, seeded: &Seeded) -> anyhow::Result<WrkResult> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let body = actix_web::web::Bytes::from(seeded.cached_body.clone());
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let body = body.clone();
                actix_web::App::new().default_service(actix_web::web::to(move || {
                    let body = body.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }))
            })
            .workers(2)
            .listen(listener)
            .map(|s| s.run());
            match server {
                Ok(server) => {
                    let _ = handle_tx.send(Some(server.handle()));
                    let _ = server.await;
                }
                Err(_) => {
                    let _ = handle_tx.send(None);
                }
            }
        });
    });
    let handle = handle_rx.recv()?.context("the ceiling server did not start")?;
    let targets = plan.out.join("targets").join("recommendations_cached.wrk");
    let result = wrk_with(
        &format!("http://127.0.0.1:{port}"),
        WRK_THREADS,
        WRK_CONNECTIONS,
        plan.seconds,
        &[format!("X-API-Key: {READ_KEY}")],
        Some((&script(plan), &targets)),
    );
    drop(handle.stop(false));
    result
}

fn script(plan: &Plan) -> PathBuf {
    plan.root.join("benches/load/wrk/targets.lua")
}

fn redis_ceiling(value_bytes: usize) -> anyhow::Result<f64> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", "6379", "-t", "get", "-n", "300000"])
        .args([
            "-c",
            &WRK_CONNECTIONS.to_string(),
            "-d",
            &value_bytes.to_string(),
            "--csv",
        ])
        .output()
        .context("redis-benchmark is not runnable (Debian package redis-tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "test","rps",... then "GET","123456.78",...
    text.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .with_context(|| format!("no GET figure in redis-benchmark's output: {text}"))
}

/// Kafka's own producer tool on the same broker: records are real action envelopes (the
/// payload file), producer settings are ours (idempotent, acks=all, linger 2 ms, lz4).
async fn kafka_ceiling(plan: &Plan, seeded: &Seeded) -> anyhow::Result<(f64, usize)> {
    let mut settings = shared::testing::local_settings().kafka;
    settings.topic_prefix = format!("load_{}_", Uuid::now_v7().simple());
    shared::testing::create_topics(&settings).await;
    let topic = settings.topic(shared::events::topics::USER_ACTIONS);
    let payloads = plan.out.join("kafka-payloads.txt");
    let lines: Vec<String> = (0..10_000)
        .map(|i| {
            let mut line = seeded.envelope.clone();
            // Distinct ids, as real events have.
            line = line.replacen(&seeded.users[0].to_string(), &Uuid::from_u128(i).to_string(), 1);
            line
        })
        .collect();
    std::fs::write(&payloads, lines.join("\n"))?;
    let libs =
        std::env::var("KAFKA_LIBS").map_or_else(|_| plan.root.join(".infra/kafka/libs"), PathBuf::from);
    let output = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args(["--topic", &topic, "--num-records", "500000", "--throughput", "-1"])
        .arg("--payload-file")
        .arg(&payloads)
        .args([
            "--producer-props",
            &format!("bootstrap.servers={}", settings.brokers),
        ])
        .args([
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=2",
            "compression.type=lz4",
        ])
        .stderr(Stdio::null())
        .output()
        .context("java is not runnable")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The last line: "500000 records sent, 123456.7 records/sec (..."
    let rate = text
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|part| part.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no rate in ProducerPerformance's output: {text}"))?;
    Ok((rate, seeded.envelope.len()))
}

// ---------------------------------------------------------------------------------------------
// Attacks

fn attack(
    plan: &Plan,
    targets: &Targets,
    name: &'static str,
    what: &str,
    items: usize,
) -> anyhow::Result<Outcome> {
    let vegeta_file = targets.vegeta(name);
    let (peak, cpu) = cpu::during(plan.seconds, || peak(plan, targets, name, items));
    let peak = peak?;
    let half_rate = (peak.requests_per_second / 2.0).floor().min(plan.fixed_rate);
    let before = recommender_metrics();
    let half = (half_rate >= 1.0)
        .then(|| vegeta(plan, name, &vegeta_file, half_rate))
        .transpose()?;
    let freshness_window = match (before, recommender_metrics()) {
        (Some(before), Some(after)) => Some(subtract_histogram(
            &after,
            &before,
            "recommendation_freshness_seconds",
        )),
        _ => None,
    };
    let histogram = if half.is_some() {
        vegeta_histogram(plan, name)?
    } else {
        String::new()
    };
    Ok(Outcome {
        name,
        what: what.to_owned(),
        peak,
        items,
        half,
        histogram,
        cpu,
        freshness_window,
    })
}

/// The workload's peak: wrk on its service, or for the mix (which spans services) Vegeta
/// unthrottled.
fn peak(plan: &Plan, targets: &Targets, name: &str, items: usize) -> anyhow::Result<WrkResult> {
    let vegeta_file = targets.vegeta(name);
    if name == "mixed" {
        // The mix spans services, which one wrk run cannot: its peak is Vegeta's, unthrottled.
        let peak = vegeta(plan, name, &vegeta_file, 0.0)?;
        Ok(WrkResult {
            requests_per_second: peak.throughput,
            p50_ms: peak.p50,
            p99_ms: peak.p99,
            non_2xx: 0,
            socket_errors: peak.errors.len() as u64,
        })
    } else {
        let base = first_base(&vegeta_file)?;
        let mut headers = vec![format!("X-API-Key: {}", key_for(&base))];
        if items > 0 && name.starts_with("actions") {
            headers.push("Content-Type: application/json".to_owned());
        }
        // Ingestion waits for Kafka's acknowledgement: latency-bound, it needs more requests
        // in flight than reads to reach its peak.
        let connections = if name.starts_with("actions") {
            INGESTION_CONNECTIONS
        } else {
            WRK_CONNECTIONS
        };
        wrk_with(
            &base,
            WRK_THREADS,
            connections,
            plan.seconds,
            &headers,
            Some((&script(plan), &targets.wrk(name))),
        )
    }
}

/// `actions_single` at its peak with the recommender and analytics paused (SIGSTOP, then
/// SIGCONT whatever happens): what ingestion alone does on these cores. Run last: a consumer
/// paused for the length of an attack may have to rejoin its group.
fn ingestion_alone(plan: &Plan, targets: &Targets) -> anyhow::Result<(WrkResult, CpuShare)> {
    let pids: Vec<String> = ["recommender", "analytics"]
        .iter()
        .map(|svc| std::fs::read_to_string(plan.root.join(format!(".infra/run/{svc}.pid"))))
        .collect::<Result<Vec<String>, _>>()
        .context("the consumers' pid files (scripts/run up writes them)")?
        .into_iter()
        .map(|pid| pid.trim().to_owned())
        .collect();
    let signal = |sig: &str| {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .args(&pids)
            .status()
            .map(|s| s.success())
    };
    anyhow::ensure!(signal("STOP")?, "could not pause the consumers");
    let (peak, cpu) = cpu::during(plan.seconds, || peak(plan, targets, "actions_single", 1));
    let resumed = signal("CONT");
    anyhow::ensure!(
        resumed?,
        "could not resume the consumers ({pids:?}): kill -CONT them"
    );
    Ok((peak?, cpu))
}

/// The recommender's `/metrics` (curl: this part of the suite is synchronous).
fn recommender_metrics() -> Option<String> {
    let output = Command::new("curl")
        .args(["-s", &format!("{RECOMMENDER_URL}/metrics")])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn first_base(vegeta_file: &Path) -> anyhow::Result<String> {
    let first = std::fs::read_to_string(vegeta_file)?
        .lines()
        .next()
        .map(str::to_owned)
        .context("an empty targets file")?;
    let url = serde_json::from_str::<Value>(&first)?["url"]
        .as_str()
        .context("a url")?
        .to_owned();
    Ok(url.split("/api/").next().unwrap_or(&url).to_owned())
}

/// `vegeta attack` at `rate` per second (0: as fast as 32 workers go), keeping the results
/// file for the histogram and plot; its JSON report in milliseconds.
fn vegeta(plan: &Plan, name: &str, targets: &Path, rate: f64) -> anyhow::Result<VegetaResult> {
    let results = plan.out.join(format!("{name}.bin"));
    let mut attack = Command::new(vegeta_binary());
    attack
        .arg("attack")
        .arg(format!("-targets={}", targets.display()))
        .args(["-format=json", &format!("-duration={}s", plan.seconds)])
        .arg(format!("-output={}", results.display()));
    if rate > 0.0 {
        attack.arg(format!("-rate={rate}/s"));
    } else {
        attack.args(["-rate=0", "-max-workers=32"]);
    }
    let status = attack
        .status()
        .context("vegeta is not runnable (benches/load/run installs it)")?;
    anyhow::ensure!(status.success(), "vegeta attack failed: {status}");
    let report = Command::new(vegeta_binary())
        .args(["report", "-type=json"])
        .arg(&results)
        .output()?;
    let report: Value = serde_json::from_slice(&report.stdout)?;
    let ms = |key: &str| report["latencies"][key].as_f64().unwrap_or(f64::NAN) / 1e6;
    let errors = report["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if name == "mixed" || rate > 0.0 {
        // An interactive plot per workload, next to the results (not committed: ~1 MB each).
        let plot = Command::new(vegeta_binary()).arg("plot").arg(&results).output()?;
        std::fs::write(plan.out.join(format!("{name}.html")), plot.stdout)?;
    }
    Ok(VegetaResult {
        requested: rate,
        rate: report["rate"].as_f64().unwrap_or(0.0),
        throughput: report["throughput"].as_f64().unwrap_or(0.0),
        p50: ms("50th"),
        p95: ms("95th"),
        p99: ms("99th"),
        max: ms("max"),
        success: report["success"].as_f64().unwrap_or(0.0),
        errors,
    })
}

fn vegeta_histogram(plan: &Plan, name: &str) -> anyhow::Result<String> {
    let output = Command::new(vegeta_binary())
        .args(["report", "-type=hist[0,1ms,2ms,5ms,10ms,25ms,50ms,100ms,250ms]"])
        .arg(plan.out.join(format!("{name}.bin")))
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn vegeta_binary() -> String {
    std::env::var("VEGETA").unwrap_or_else(|_| "vegeta".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Report

fn report(
    plan: &Plan,
    seeded: &Seeded,
    seeding: f64,
    ceilings: &Ceilings,
    outcomes: &[Outcome],
    freshness: &[(&str, Option<f64>, Option<f64>)],
    backlog: Backlog,
) -> String {
    let Backlog { drain, lag, alone } = backlog;
    let mut r = String::new();
    let by_name: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.name, o)).collect();
    let _ = writeln!(r, "{REPORT_BEGIN}");
    let _ = writeln!(
        r,
        "## Load suite ({}; `benches/load/run`, {} s per attack)\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        plan.seconds
    );
    let _ = writeln!(
        r,
        "Seeded through the public APIs in {seeding:.0} s: {} products in {CATEGORIES} categories, {} users, {} actions \
         (70 % in each user's favourite category, skewed to popular products), then both pipelines drained and every \
         user's list read once (cache filled). Release builds, 2 cores shared by the services, Kafka, PostgreSQL, \
         Redis and the load generators. wrk: {WRK_THREADS} threads, {WRK_CONNECTIONS} connections \
         ({INGESTION_CONNECTIONS} for ingestion, which waits on Kafka's acknowledgements). Freshness is the \
         recommender's histogram (event created → list in Redis) over each Vegeta run. Vegeta runs at {:.0} req/s \
         or half of the peak if lower: a rate it can send while sharing the cores.\n",
        seeded.products.len(),
        seeded.users.len(),
        plan.actions,
        plan.fixed_rate,
    );
    let _ = writeln!(r, "### Ceilings measured in the same run\n");
    let _ = writeln!(r, "| ceiling | figure |\n|---|---|");
    let _ = writeln!(
        r,
        "| bare actix-web handler returning the same {} bytes (wrk, same script) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms |",
        seeded.cached_body.len(),
        ceilings.http.requests_per_second,
        ceilings.http.p50_ms,
        ceilings.http.p99_ms
    );
    let _ = writeln!(
        r,
        "| redis-benchmark GET, {} connections | {:.0} req/s |",
        WRK_CONNECTIONS, ceilings.redis_get
    );
    let _ = writeln!(
        r,
        "| Kafka ProducerPerformance, our {}-byte envelopes, acks=all, idempotent, lz4, linger 2 ms | {:.0} records/s |\n",
        ceilings.kafka_record_bytes, ceilings.kafka_records
    );
    let _ = writeln!(r, "### Workloads\n");
    let _ = writeln!(
        r,
        "| workload | peak (wrk) | p50 / p99 at peak | Vegeta at a fixed rate: asked, sent, p50 / p95 / p99 / max | success | errors |\n|---|---|---|---|---|---|"
    );
    for o in outcomes {
        let half = o.half.as_ref().map_or("—".to_owned(), |h| {
            format!(
                "{:.0}/s asked, {:.0}/s sent: {:.2} / {:.2} / {:.2} / {:.1} ms",
                h.requested, h.rate, h.p50, h.p95, h.p99, h.max
            )
        });
        let success = o
            .half
            .as_ref()
            .map_or("—".to_owned(), |h| format!("{:.2} %", h.success * 100.0));
        let errors =
            o.half.as_ref().map_or(0, |h| h.errors.len()) as u64 + o.peak.non_2xx + o.peak.socket_errors;
        let items = if o.items > 1 {
            format!(" = {:.0} actions/s", o.peak.requests_per_second * o.items as f64)
        } else {
            String::new()
        };
        let _ = writeln!(
            r,
            "| `{}`: {} | {:.0} req/s{items} | {:.2} / {:.2} ms | {half} | {success} | {errors} |",
            o.name, o.what, o.peak.requests_per_second, o.peak.p50_ms, o.peak.p99_ms
        );
    }
    let _ = writeln!(r, "\n### Targets\n");
    let _ = writeln!(r, "| target | measured | met |\n|---|---|---|");
    let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
    let http = ceilings.http.requests_per_second;
    let ratio_row = |r: &mut String, name: &str, label: &str, target: f64, aim: Option<f64>| {
        if let Some(o) = by_name.get(name) {
            let ratio = o.peak.requests_per_second / http;
            let aim = aim.map_or(String::new(), |a| format!(" (aim {a}×)"));
            let _ = writeln!(
                r,
                "| {label} ≥ {target}×{aim} the HTTP ceiling | {ratio:.2}× ({:.0} / {http:.0} req/s) | {} |",
                o.peak.requests_per_second,
                verdict(ratio >= target)
            );
        }
    };
    ratio_row(
        &mut r,
        "recommendations_cached",
        "cached recommendation reads",
        0.5,
        Some(0.8),
    );
    if let Some(half) = by_name
        .get("recommendations_cached")
        .and_then(|o| o.half.as_ref())
    {
        // Met only if Vegeta really sent (nearly) the rate asked.
        let sent = half.rate >= 0.95 * half.requested;
        let _ = writeln!(
            r,
            "| cached reads p99 ≤ 2 ms at {:.0} req/s fixed rate | {:.2} ms at {:.0}/s sent | {} |",
            half.requested,
            half.p99,
            half.rate,
            verdict(sent && half.p99 <= 2.0)
        );
    }
    if let Some(o) = by_name.get("actions_single") {
        let _ = writeln!(
            r,
            "| `actions_single` ≥ 15,000 req/s (aim 30,000), acks=all | {:.0} req/s ({:.2}× Kafka's producer rate) | {} |",
            o.peak.requests_per_second,
            o.peak.requests_per_second / ceilings.kafka_records,
            verdict(o.peak.requests_per_second >= 15_000.0)
        );
    }
    if let Some(o) = by_name.get("actions_batched") {
        let actions = o.peak.requests_per_second * o.items as f64;
        let ratio = actions / ceilings.kafka_records;
        let _ = writeln!(
            r,
            "| `actions_batched` ≥ 0.6× (aim 0.9×) Kafka's producer rate | {ratio:.2}× ({actions:.0} / {:.0} actions/s) | {} |",
            ceilings.kafka_records,
            verdict(ratio >= 0.6)
        );
    }
    ratio_row(&mut r, "product_reads", "`product_reads`", 0.5, None);
    ratio_row(&mut r, "analytics_reads", "`analytics_reads`", 0.3, None);
    let flush = recommender::configuration::get_configuration()
        .map(|s| s.recommender.flush_interval_ms as f64 / 1000.0)
        .unwrap_or(1.0);
    for (name, p50, p99) in freshness {
        if let Some(p99) = p99 {
            let _ = writeln!(
                r,
                "| freshness p99 ≤ flush interval + 1 s ({:.1} s) during `{name}` | p50 {:.2} s, p99 {p99:.2} s | {} |",
                flush + 1.0,
                p50.unwrap_or(f64::NAN),
                verdict(*p99 <= flush + 1.0)
            );
        }
    }
    let (drained, met) = match drain {
        Ok(seconds) => (format!("{seconds:.1} s"), seconds <= 30.0),
        Err(left) => (format!("not within 120 s ({left} messages left)"), false),
    };
    let _ = writeln!(
        r,
        "| recommender backlog drained ≤ 30 s after the last burst (`actions_batched`) | {drained} | {} |",
        if met { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        r,
        "\nIngestion alone: `actions_single` at its peak with the recommender and analytics paused (SIGSTOP) \
         for the attack: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; CPU: {}.",
        alone.0.requests_per_second,
        alone.0.p50_ms,
        alone.0.p99_ms,
        alone.1.describe()
    );
    let _ = writeln!(r, "\n### CPU during each peak (% of one core; the box has two)\n");
    let _ = writeln!(r, "| workload | CPU by process |\n|---|---|");
    for o in outcomes {
        let _ = writeln!(r, "| `{}` | {} |", o.name, o.cpu.describe());
    }
    let _ = writeln!(r, "\nConsumer lag left when the suite ended (after the drain above; recommender + analytics): {lag:.0} messages.\n");
    let _ = writeln!(r, "### Latency histograms (Vegeta at the fixed rate)\n");
    for o in outcomes.iter().filter(|o| !o.histogram.is_empty()) {
        let _ = writeln!(r, "`{}`:\n```\n{}```", o.name, o.histogram);
    }
    let _ = writeln!(
        r,
        "\nPlots (`vegeta plot`), results (`*.bin`) and the targets files are in `benches/load/out/` after a run."
    );
    let _ = write!(r, "{REPORT_END}");
    r
}
