//! Live replay: the train part of ml-latest-small (user_time split, as the offline tool makes
//! it) goes through the real system — movies created as products (category = first genre),
//! users registered, every train rating posted to the users service as a `view` with its
//! original time and a stable event id — then, once both pipelines have drained and every list
//! was rebuilt from the final state, the recommendations API is asked for every test user and
//! the offline metrics are computed on its answers. The offline tool runs on the same split
//! with the same catalogue; the two must agree within ±0.005 on every metric.
//!
//!     scripts/replay [ratings.csv movies.csv]
//!
//! The recommender runs with `configuration/replay.yaml` (APP_ENVIRONMENT=replay): the
//! evaluation protocol's semantics (every rating an implicit interaction of weight 1, rated
//! items excluded, popularity = interaction count).
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::stream::{self, StreamExt};
use recommender::evaluation::dataset::{load, load_genres, Rating};
use recommender::evaluation::metrics::{Accumulator, Metrics};
use recommender::evaluation::runner::{Method, Run};
use recommender::evaluation::split::{user_time, Split};
use recommender::model::params::ModelParams;
use recommender::model::Item;
use rustc_hash::FxHashSet;
use serde_json::{json, Value};
use shared::auth::Role;
use shared::testing::system::{ServiceSet, SERVICES};
use uuid::Uuid;

const K: usize = 10;
const TOLERANCE: f64 = 0.005;
/// Longest an instance's replica takes to apply the last delta record (it polls every 100 ms).
const REPLICA_LAG: Duration = Duration::from_secs(1);
/// The development service keys: posting actions (users) and reading (recommender).
const INGEST_KEY: &str = "local-development-ingest-key";
const READ_KEY: &str = "local-development-read-key";
const REPORT_BEGIN: &str = "<!-- replay:begin -->";
const REPORT_END: &str = "<!-- replay:end -->";

fn main() -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dataset = root.join("../shared/datasets/ml-latest-small");
    let ratings_path = args
        .first()
        .map_or_else(|| dataset.join("ratings.csv"), PathBuf::from);
    let movies_path = args
        .get(1)
        .map_or_else(|| dataset.join("movies.csv"), PathBuf::from);
    let data = load(&[&ratings_path])?.pop().context("a dataset")?;
    let split = user_time(&data.ratings, 0.8);
    let genres = load_genres(&movies_path, &data.item_ids)?;
    // The catalogue holds one category per product: a movie's first genre.
    let category: HashMap<Item, String> = genres
        .iter()
        .filter_map(|(item, g)| Some((*item, g.first()?.clone())))
        .collect();
    let single: HashMap<Item, Vec<String>> = category.iter().map(|(i, c)| (*i, vec![c.clone()])).collect();
    let offline = |genres: &HashMap<Item, Vec<String>>| {
        Run {
            train: &split.train,
            test: &split.test,
            k: K,
            genres: Some(genres),
            progress: false,
        }
        .evaluate(&Method::Model(ModelParams::default()))
    };
    let offline_single = offline(&single);
    let offline_all = offline(&genres);
    let offline_shuffled = renumbered(&split, &single);
    eprintln!(
        "offline NDCG@{K}: {:.4} (first genre), {:.4} (all genres), {:.4} (items renumbered)",
        offline_single.ndcg, offline_all.ndcg, offline_shuffled.ndcg
    );

    let binaries = root.join("target/release");
    let system = ServiceSet::start(&binaries, |name, env| {
        env.push(("RUST_LOG".into(), "warn".into()));
        if name == "recommender" {
            env.push(("APP_ENVIRONMENT".into(), "replay".into()));
        }
    })
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let urls: HashMap<&str, String> = SERVICES.iter().map(|s| (*s, system.api(s))).collect();

    let products = create_products(
        &client,
        &urls["products"],
        &split.train,
        &category,
        &data.item_ids,
    )
    .await?;
    let users = register_users(&client, &urls["users"], &split.train).await?;
    let posted = post_ratings(&client, &urls["users"], &split.train, &users, &products).await?;
    eprintln!("{posted} ratings accepted; waiting for the pipelines");
    let drained_at = wait_until_drained(&system).await?;
    let (live, live_lists) = live_metrics(
        &client,
        &urls["recommender"],
        &split,
        &users,
        &products,
        drained_at,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let offline_lists = Run {
        train: &split.train,
        test: &split.test,
        k: K,
        genres: Some(&single),
        progress: false,
    }
    .lists(&ModelParams::default());
    let differing = compare_lists(&offline_lists, &live_lists, &data.item_ids);

    let report = report(
        [&offline_single, &offline_all, &offline_shuffled],
        &live,
        differing,
        posted,
        seconds,
    );
    println!("{report}");
    benchmarks::replace_section(
        &root.join("docs/evaluation.md"),
        REPORT_BEGIN,
        REPORT_END,
        &report,
    )?;
    let worst = differences(&offline_single, &live)
        .into_iter()
        .map(|(_, d)| d.abs())
        .fold(0.0, f64::max);
    anyhow::ensure!(
        worst <= TOLERANCE,
        "live and offline differ by {worst:.4} (> {TOLERANCE}) on some metric"
    );
    Ok(())
}

/// One product per movie of the train part (only those are recommendable offline).
async fn create_products(
    client: &reqwest::Client,
    base: &str,
    train: &[Rating],
    category: &HashMap<Item, String>,
    item_ids: &[i64],
) -> anyhow::Result<HashMap<Item, Uuid>> {
    let admin = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let mut items: Vec<Item> = train.iter().map(|r| r.item).collect();
    items.sort_unstable();
    items.dedup();
    let created = stream::iter(items)
        .map(|item| {
            let body = json!({
                "name": format!("Movie {}", item_ids[item as usize]),
                "category": category.get(&item).cloned().unwrap_or_else(|| "Uncategorised".into()),
                "price": {"amount": "1.00", "currency": "EUR"},
            });
            let request = client
                .post(format!("{base}/products"))
                .bearer_auth(&admin)
                .json(&body);
            async move { Ok::<_, anyhow::Error>((item, benchmarks::created_id(request).await?)) }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    let products: HashMap<Item, Uuid> = created.into_iter().collect::<anyhow::Result<_>>()?;
    eprintln!("{} products", products.len());
    Ok(products)
}

async fn register_users(
    client: &reqwest::Client,
    base: &str,
    train: &[Rating],
) -> anyhow::Result<HashMap<u32, Uuid>> {
    let mut ids: Vec<u32> = train.iter().map(|r| r.user).collect();
    ids.sort_unstable();
    ids.dedup();
    let registered = stream::iter(ids)
        .map(|user| {
            let body = json!({
                "email": format!("movielens-{user}-{}@example.com", Uuid::now_v7().simple()),
                "password": "replay password",
                "display_name": format!("MovieLens user {user}"),
            });
            let request = client.post(format!("{base}/users")).json(&body);
            async move { Ok::<_, anyhow::Error>((user, benchmarks::created_id(request).await?)) }
        })
        .buffered(4)
        .collect::<Vec<_>>()
        .await;
    let users: HashMap<u32, Uuid> = registered.into_iter().collect::<anyhow::Result<_>>()?;
    eprintln!("{} users", users.len());
    Ok(users)
}

/// Each user's train rows in their order, as `view` actions with the original time; the event
/// id is derived from the row, so a second replay into the same system would count nothing twice.
async fn post_ratings(
    client: &reqwest::Client,
    base: &str,
    train: &[Rating],
    users: &HashMap<u32, Uuid>,
    products: &HashMap<Item, Uuid>,
) -> anyhow::Result<usize> {
    let mut by_user: HashMap<u32, Vec<&Rating>> = HashMap::new();
    for rating in train {
        by_user.entry(rating.user).or_default().push(rating);
    }
    // A user's batches go one after the other (their order is the user's sequence); users in
    // parallel.
    let mut per_user: Vec<(Uuid, Vec<Vec<Value>>)> = Vec::new();
    for (user, mut rows) in by_user {
        rows.sort_by_key(|r| (r.time, r.row));
        let batches = rows
            .chunks(500)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|r| {
                        let at: DateTime<Utc> = Utc.timestamp_opt(r.time, 0).single().unwrap_or_default();
                        json!({
                            "product_id": products[&r.item],
                            "action": "view",
                            "occurred_at": at,
                            "event_id": Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 | r.row as u128),
                        })
                    })
                    .collect()
            })
            .collect();
        per_user.push((users[&user], batches));
    }
    let mut accepted = 0;
    let mut posted = stream::iter(per_user)
        .map(|(user, batches)| async move {
            let mut count = 0;
            for actions in batches {
                loop {
                    let response = client
                        .post(format!("{base}/users/{user}/actions"))
                        .header("x-api-key", INGEST_KEY)
                        .json(&actions)
                        .send()
                        .await?;
                    // Heavy users exceed the per-user action rate: wait as told, as a client should.
                    if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        tokio::time::sleep(retry_after(&response)).await;
                        continue;
                    }
                    anyhow::ensure!(response.status() == 202, "actions answered {}", response.status());
                    break;
                }
                count += actions.len();
            }
            Ok::<usize, anyhow::Error>(count)
        })
        .buffer_unordered(4);
    while let Some(count) = posted.next().await {
        accepted += count?;
    }
    Ok(accepted)
}

/// The wait a 429 answer asks for (`Retry-After` in seconds; 1 s if absent).
fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, 60))
}

/// Until the recommender and analytics report no lag twice in a row; the time it happened.
async fn wait_until_drained(system: &ServiceSet) -> anyhow::Result<DateTime<Utc>> {
    benchmarks::wait_until_drained(&[system.root("recommender"), system.root("analytics")]).await?;
    Ok(Utc::now())
}

/// Asks for every scored user's list (waiting until it was built from the final counts) and
/// computes the metrics on the answers.
async fn live_metrics(
    client: &reqwest::Client,
    base: &str,
    split: &recommender::evaluation::split::Split,
    users: &HashMap<u32, Uuid>,
    products: &HashMap<Item, Uuid>,
    drained_at: DateTime<Utc>,
) -> anyhow::Result<(Metrics, BTreeMap<u32, Vec<Item>>)> {
    let item_of: HashMap<Uuid, Item> = products.iter().map(|(i, p)| (*p, *i)).collect();
    // A list built later than this was built from a replica holding every delta.
    let exact_after = drained_at + REPLICA_LAG;
    let mut relevant: HashMap<u32, FxHashSet<Item>> = HashMap::new();
    for rating in &split.test {
        relevant.entry(rating.user).or_default().insert(rating.item);
    }
    let mut scored: Vec<u32> = relevant
        .keys()
        .copied()
        .filter(|u| users.contains_key(u))
        .collect();
    scored.sort_unstable();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut accumulator = Accumulator::default();
    let mut lists = BTreeMap::new();
    for user in scored {
        let url = format!("{base}/users/{}/recommendations?limit={K}", users[&user]);
        let list = loop {
            let answer: Value = client
                .get(&url)
                .header("x-api-key", READ_KEY)
                .send()
                .await?
                .json()
                .await?;
            let generated: Option<DateTime<Utc>> =
                answer["generated_at"].as_str().and_then(|t| t.parse().ok());
            if generated.is_some_and(|g| g >= exact_after) {
                break answer;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "lists were not rebuilt after the replay: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let items: Vec<Item> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                item_of
                    .get(&i["product_id"].as_str()?.parse::<Uuid>().ok()?)
                    .copied()
            })
            .collect();
        accumulator.add(&items, &relevant[&user], K);
        lists.insert(user, items);
    }
    Ok((accumulator.finish(), lists))
}

fn differences(offline: &Metrics, live: &Metrics) -> Vec<(&'static str, f64)> {
    vec![
        ("P@10", live.precision - offline.precision),
        ("R@10", live.recall - offline.recall),
        ("NDCG@10", live.ndcg - offline.ndcg),
        ("MAP@10", live.map - offline.map),
        ("HR@10", live.hit_rate - offline.hit_rate),
    ]
}

/// The offline run with item ids renumbered in another fixed (pseudo-random) order. Equal
/// scores and equal popularity are broken by item id, offline in movie-id order and live in the
/// order the recommender first saw each product; this shows how much that order alone moves the
/// metrics.
fn renumbered(split: &Split, genres: &HashMap<Item, Vec<String>>) -> Metrics {
    let mut order: Vec<Item> = split.train.iter().chain(&split.test).map(|r| r.item).collect();
    order.sort_unstable();
    order.dedup();
    order.sort_by_key(|i| u64::from(*i).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
    let new: HashMap<Item, Item> = order.iter().enumerate().map(|(n, i)| (*i, n as Item)).collect();
    let map = |rows: &[Rating]| -> Vec<Rating> {
        rows.iter()
            .map(|r| Rating {
                item: new[&r.item],
                ..*r
            })
            .collect()
    };
    let (train, test) = (map(&split.train), map(&split.test));
    let genres: HashMap<Item, Vec<String>> = genres
        .iter()
        .filter_map(|(i, g)| Some((*new.get(i)?, g.clone())))
        .collect();
    Run {
        train: &train,
        test: &test,
        k: K,
        genres: Some(&genres),
        progress: false,
    }
    .evaluate(&Method::Model(ModelParams::default()))
}

/// Counts the users whose live top 10 is not the offline one (same items in the same order) and
/// prints a few of them (movie ids) for inspection.
fn compare_lists(
    offline: &BTreeMap<u32, Vec<Item>>,
    live: &BTreeMap<u32, Vec<Item>>,
    item_ids: &[i64],
) -> usize {
    let movies =
        |items: &[Item]| -> Vec<i64> { items.iter().take(K).map(|&i| item_ids[i as usize]).collect() };
    let mut differing = 0;
    for (user, live_list) in live {
        let offline_list = offline.get(user).map(Vec::as_slice).unwrap_or_default();
        if movies(offline_list) != movies(live_list) {
            differing += 1;
            if differing <= 8 {
                eprintln!(
                    "user {user}: offline {:?}\n        live    {:?}",
                    movies(offline_list),
                    movies(live_list)
                );
            }
        }
    }
    differing
}

fn report(offline: [&Metrics; 3], live: &Metrics, differing: usize, posted: usize, seconds: f64) -> String {
    let [offline, offline_all, offline_shuffled] = offline;
    let mut r = String::new();
    let row = |r: &mut String, name: &str, m: &Metrics| {
        let _ = writeln!(
            r,
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} |",
            m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.users
        );
    };
    let _ = writeln!(r, "{REPORT_BEGIN}");
    let _ = writeln!(
        r,
        "### Live replay ({}; `scripts/replay`, {posted} train ratings through the users service, {seconds:.0} s)\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        r,
        "| run | P@10 | R@10 | NDCG@10 | MAP@10 | HR@10 | users |\n|---|---|---|---|---|---|---|"
    );
    row(
        &mut r,
        "offline, same catalogue (first genre as category)",
        offline,
    );
    row(
        &mut r,
        "live system (Kafka → aggregators → Postgres/Redis → API)",
        live,
    );
    row(&mut r, "offline with every genre (the figure above)", offline_all);
    row(
        &mut r,
        "offline, same catalogue, items numbered in another order (tie-breaks)",
        offline_shuffled,
    );
    let _ = writeln!(
        r,
        "\n{differing} of {} users' live top 10 differ from the offline one (items or order).",
        live.users
    );
    let diffs = differences(offline, live);
    let worst = diffs.iter().map(|(_, d)| d.abs()).fold(0.0, f64::max);
    let _ = writeln!(
        r,
        "\nLive − offline: {}. Largest difference {worst:.4}: {} the ±{TOLERANCE} tolerance.",
        diffs
            .iter()
            .map(|(n, d)| format!("{n} {d:+.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        if worst <= TOLERANCE {
            "within"
        } else {
            "**outside**"
        }
    );
    let _ = write!(r, "{REPORT_END}");
    r
}
