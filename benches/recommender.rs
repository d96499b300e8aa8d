//! Recommender performance: events/s through the aggregation step (pure), the whole pipeline
//! from Kafka to flushed lists (real Kafka, Postgres, Redis), flush cost and freshness, and
//! cached list reads over HTTP (wrk). Needs `scripts/infra up`. Prints a Markdown report.
//!
//!     cargo bench -p benchmarks --bench recommender
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use benchmarks::{histogram_mean, histogram_quantile, subtract_histogram, timed, wrk};
use chrono::{TimeZone, Utc};
use futures_util::future::join_all;
use recommender::configuration::{get_configuration, RecommenderSettings};
use recommender::consumers::actions::{apply_batch, ActionEvent};
use recommender::evaluation::dataset::load;
use recommender::model::aggregator::Aggregator;
use recommender::startup::Application;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use secrecy::ExposeSecret;
use shared::auth::Role;
use shared::events::action::{ActionKind, UserAction};
use shared::events::product::{Price, ProductSnapshot};
use shared::events::{event_types, topics, Envelope};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};
use shared::testing::isolate;
use uuid::Uuid;

const USERS: u128 = 2_000;
const PRODUCTS: u128 = 1_000;
const ACTIONS: usize = 50_000;

fn main() -> anyhow::Result<()> {
    println!(
        "## Recommender benchmark ({})\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    aggregation()?;
    actix_web::rt::System::new().block_on(pipeline())
}

/// The pure aggregation step on ml-latest-small (or synthetic data), in flush-sized batches.
fn aggregation() -> anyhow::Result<()> {
    let path = std::env::var("RATINGS").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/ml-latest-small/ratings.csv")
    });
    let mut ratings = load(&[&path])?.pop().map(|d| d.ratings).unwrap_or_default();
    ratings.sort_by_key(|r| (r.time, r.row));
    let events: Vec<ActionEvent> = ratings
        .iter()
        .enumerate()
        .map(|(i, r)| ActionEvent {
            event_id: Uuid::from_u128(i as u128 + 1),
            offset: i as i64,
            user: Uuid::from_u128(u128::from(r.user)),
            product: Uuid::from_u128(u128::from(r.item) + 1_000_000),
            action: ActionKind::View,
            value: None,
            occurred_at: Utc.timestamp_opt(r.time, 0).single().unwrap_or_default(),
            produced_ms: None,
        })
        .collect();
    let items = events
        .iter()
        .map(|e| (e.product, (e.product.as_u128() - 1_000_000) as u32))
        .collect();
    let settings = RecommenderSettings::default();
    let mut rates = Vec::new();
    for _ in 0..3 {
        let mut model = Aggregator::new(settings.model.clone());
        let (_, seconds) = timed(|| {
            for batch in events.chunks(1000) {
                apply_batch(&mut model, batch, 0, &HashSet::new(), &items, &settings);
            }
        });
        rates.push(events.len() as f64 / seconds);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "| aggregation step (ml-latest-small, {} events, batches of 1000, median of 3) | {:.0} events/s |",
        events.len(),
        rates[1]
    );
    println!("|---|---|");
    Ok(())
}

fn product_event(id: Uuid, category: usize) -> Envelope<ProductSnapshot> {
    let at = Utc::now();
    let snapshot = ProductSnapshot {
        id,
        name: format!("Product {id}"),
        description: String::new(),
        category: format!("category-{category}"),
        tags: vec![],
        price: Price {
            amount: "9.99".into(),
            currency: "EUR".into(),
        },
        stock: 10,
        active: true,
        attributes: serde_json::json!({}),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    Envelope::new(event_types::PRODUCT_CREATED, id.to_string(), snapshot)
}

/// A deterministic pseudo-random choice in `0..n`, skewed by `power` (1 = uniform; larger
/// powers favour small indices, like a popularity curve).
fn pick(i: usize, salt: u64, n: u128, power: f64) -> u128 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    ((unit.powf(power) * n as f64) as u128).min(n - 1)
}

async fn publish_all<P: serde::Serialize>(
    producer: &EventProducer,
    topic: &str,
    events: &[Envelope<P>],
) -> anyhow::Result<()> {
    for chunk in events.chunks(2000) {
        // All sends of a chunk are queued before any is awaited (pipelined, order kept).
        for result in join_all(chunk.iter().map(|e| producer.publish(topic, e))).await {
            result?;
        }
    }
    Ok(())
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .ok()
        .flatten();
    row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0)
}

/// Steady load below capacity: `RATE` actions per second for `SECONDS`, paced in 100 ms steps;
/// freshness is read from the histogram difference over that window.
async fn steady_freshness(producer: &EventProducer, products: &[Uuid], base: &str) -> anyhow::Result<()> {
    const RATE: usize = 500;
    const SECONDS: usize = 20;
    let before = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let started = Instant::now();
    for step in 0..SECONDS * 10 {
        let batch: Vec<Envelope<UserAction>> = (0..RATE / 10)
            .map(|j| {
                let i = 1_000_000 + step * RATE / 10 + j;
                let user = Uuid::from_u128(0xFEED_0000 + pick(i, 3, USERS, 1.0));
                let product = products[pick(i, 4, PRODUCTS, 2.0) as usize];
                let payload = UserAction {
                    user_id: user,
                    product_id: product,
                    action: ActionKind::View,
                    value: None,
                    occurred_at: Utc::now(),
                };
                Envelope::new(event_types::USER_ACTION, user.to_string(), payload)
            })
            .collect();
        publish_all(producer, topics::USER_ACTIONS, &batch).await?;
        let next = Duration::from_millis(100 * (step as u64 + 1));
        if let Some(wait) = next.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    // Let the last events flush.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let window = subtract_histogram(&after, &before, "recommendation_freshness_seconds");
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |s| format!("{:.0} ms", s * 1000.0));
    println!(
        "| freshness at a steady {RATE} actions/s for {SECONDS} s (below capacity): p50 / p99 | {} / {} |",
        ms(histogram_quantile(
            &window,
            "recommendation_freshness_seconds",
            0.5
        )),
        ms(histogram_quantile(
            &window,
            "recommendation_freshness_seconds",
            0.99
        ))
    );
    Ok(())
}

/// The bucket counts of `name` in `after` minus those in `before`, as exposition text.
/// The real pipeline: catalogue, actions through Kafka, flushes, then cached reads. Users are
/// uniform; products follow a popularity curve (`pick` with power 2).
async fn pipeline() -> anyhow::Result<()> {
    let mut settings = get_configuration()?;
    isolate(&mut settings.common).await;
    let registry = new_registry("bench")?;
    let producer = EventProducer::new(&settings.common.kafka, ProducerMetrics::new(&registry)?)?;
    let token = shared::testing::dev_token(Uuid::now_v7(), Role::Admin);
    let db = Database::connect(settings.common.database.url().expose_secret()).await?;
    let app = Application::build(settings.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());

    let products: Vec<Uuid> = (0..PRODUCTS).map(|i| Uuid::from_u128(0xC0DE_0000 + i)).collect();
    let catalogue: Vec<_> = products
        .iter()
        .enumerate()
        .map(|(i, p)| product_event(*p, i % 20))
        .collect();
    publish_all(&producer, topics::PRODUCT_UPDATES, &catalogue).await?;
    while count(&db, "SELECT count(*) AS n FROM products").await < PRODUCTS as i64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let kinds = [
        ActionKind::View,
        ActionKind::View,
        ActionKind::Click,
        ActionKind::AddToCart,
        ActionKind::Purchase,
    ];
    let actions: Vec<Envelope<UserAction>> = (0..ACTIONS)
        .map(|i| {
            let user = Uuid::from_u128(0xBEEF_0000 + pick(i, 1, USERS, 1.0));
            let product = products[pick(i, 2, PRODUCTS, 2.0) as usize];
            let payload = UserAction {
                user_id: user,
                product_id: product,
                action: kinds[i % kinds.len()],
                value: None,
                occurred_at: Utc::now(),
            };
            Envelope::new(event_types::USER_ACTION, user.to_string(), payload)
        })
        .collect();
    let started = Instant::now();
    publish_all(&producer, topics::USER_ACTIONS, &actions).await?;
    let produced = started.elapsed().as_secs_f64();
    while count(
        &db,
        "SELECT COALESCE(SUM(next_offset), 0)::bigint AS n FROM partition_offsets",
    )
    .await
        < ACTIONS as i64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pipeline = started.elapsed().as_secs_f64();
    let metrics = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let users_with_lists = count(&db, "SELECT count(*) AS n FROM recommendations").await;
    println!("| producing {ACTIONS} actions to Kafka (idempotent, acks=all; {USERS} users, {PRODUCTS} products) | {:.0} events/s |", ACTIONS as f64 / produced);
    println!("| pipeline: first action produced → last one flushed with its lists (flush every {} ms) | {:.0} events/s ({pipeline:.1} s) |", settings.recommender.flush_interval_ms, ACTIONS as f64 / pipeline);
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |s| format!("{:.0} ms", s * 1000.0));
    println!("| flush duration: mean / p99 (counts, sequences, lists of touched users, offsets; one transaction) | {} / {} |",
        ms(histogram_mean(&metrics, "aggregator_flush_duration_seconds")), ms(histogram_quantile(&metrics, "aggregator_flush_duration_seconds", 0.99)));
    println!(
        "| users whose list a flush recomputed: mean | {:.0} (lists stored: {users_with_lists}) |",
        histogram_mean(&metrics, "aggregator_flush_users").unwrap_or(0.0)
    );
    println!(
        "| freshness under this load, action produced → list in Redis: p50 / p99 | {} / {} |",
        ms(histogram_quantile(
            &metrics,
            "recommendation_freshness_seconds",
            0.5
        )),
        ms(histogram_quantile(
            &metrics,
            "recommendation_freshness_seconds",
            0.99
        ))
    );

    steady_freshness(&producer, &products, &base).await?;

    let user = Uuid::from_u128(0xBEEF_0000);
    let url = format!("{base}/api/v1/users/{user}/recommendations?limit=10");
    let warm: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let headers = [format!("Authorization: Bearer {token}")];
    let url_for_wrk = url.clone();
    let result = tokio::task::spawn_blocking(move || wrk(&url_for_wrk, 2, 16, 10, &headers)).await??;
    println!("| GET /users/{{id}}/recommendations, cache hits (wrk -t2 -c16 -d10s; first answer source: {}) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {} |",
        warm["source"].as_str().unwrap_or("?"), result.requests_per_second, result.p50_ms, result.p99_ms, result.non_2xx);
    Ok(())
}
