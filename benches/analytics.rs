//! Analytics performance: events/s through the aggregation step (pure), the pipeline from Kafka
//! to committed statistics (real Kafka, Postgres, Redis), flush cost, and cached summary reads
//! (wrk). Needs `scripts/infra up`. Prints a Markdown report.
//!
//!     cargo bench -p benchmarks --bench analytics
use std::time::{Duration, Instant};

use analytics::configuration::get_configuration;
use analytics::increments::{increments, Recorded};
use analytics::startup::Application;
use benchmarks::{histogram_mean, histogram_quantile, timed, wrk};
use chrono::{TimeDelta, Utc};
use futures_util::future::join_all;
use sea_orm::Database;
use secrecy::ExposeSecret;
use shared::auth::Role;
use shared::events::action::{ActionKind, UserAction};
use shared::events::{event_types, topics, Envelope};
use shared::kafka::producer::EventProducer;
use shared::metrics::{new_registry, ProducerMetrics};
use shared::testing::{flushed_offsets, isolate};
use uuid::Uuid;

const ACTIONS: usize = 50_000;
const KINDS: [ActionKind; 5] = [
    ActionKind::View,
    ActionKind::View,
    ActionKind::Click,
    ActionKind::AddToCart,
    ActionKind::Purchase,
];

fn main() -> anyhow::Result<()> {
    println!(
        "## Analytics benchmark ({})\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    aggregation();
    actix_web::rt::System::new().block_on(pipeline())
}

fn action(i: usize) -> (Uuid, Uuid, ActionKind, chrono::DateTime<Utc>) {
    let user = Uuid::from_u128(0xBEEF_0000 + ((i * 7_919) % 2_000) as u128);
    let product = Uuid::from_u128(0xC0DE_0000 + ((i * 104_729) % 1_000) as u128);
    (
        user,
        product,
        KINDS[i % KINDS.len()],
        Utc::now() - TimeDelta::seconds((i % 3_600) as i64),
    )
}

/// The pure aggregation step in flush-sized batches of 1000.
fn aggregation() {
    let events: Vec<Recorded> = (0..200_000)
        .map(|i| {
            let (user, product, kind, at) = action(i);
            Recorded {
                event_id: Uuid::from_u128(i as u128),
                topic: topics::USER_ACTIONS.into(),
                partition: 0,
                offset: i as i64,
                event_type: event_types::USER_ACTION.into(),
                occurred_at: at,
                user_id: Some(user),
                product_id: Some(product),
                action: Some((kind, None)),
                payload: serde_json::Value::Null,
            }
        })
        .collect();
    let (_, seconds) = timed(|| {
        for batch in events.chunks(1000) {
            std::hint::black_box(increments(batch));
        }
    });
    println!(
        "| aggregation step (200,000 synthetic actions, batches of 1000) | {:.0} events/s |",
        events.len() as f64 / seconds
    );
    println!("|---|---|");
}

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

    let events: Vec<Envelope<UserAction>> = (0..ACTIONS)
        .map(|i| {
            let (user, product, kind, at) = action(i);
            let payload = UserAction {
                user_id: user,
                product_id: product,
                action: kind,
                value: None,
                occurred_at: at,
            };
            let mut event = Envelope::new(event_types::USER_ACTION, user.to_string(), payload);
            event.occurred_at = at;
            event
        })
        .collect();
    let started = Instant::now();
    for chunk in events.chunks(2000) {
        for result in join_all(chunk.iter().map(|e| producer.publish(topics::USER_ACTIONS, e))).await {
            result?;
        }
    }
    while flushed_offsets(&db).await < ACTIONS as i64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let metrics = reqwest::get(format!("{base}/metrics")).await?.text().await?;
    let ms = |v: Option<f64>| v.map_or("–".to_owned(), |s| format!("{:.0} ms", s * 1000.0));
    println!("| pipeline: {ACTIONS} actions produced → all statistics committed (flush every {} ms) | {:.0} events/s ({seconds:.1} s) |",
        settings.analytics.flush_interval_ms, ACTIONS as f64 / seconds);
    println!("| flush duration: mean / p99 (raw events, all statistics, event ids, offsets; one transaction) | {} / {} |",
        ms(histogram_mean(&metrics, "aggregator_flush_duration_seconds")), ms(histogram_quantile(&metrics, "aggregator_flush_duration_seconds", 0.99)));

    let url = format!("{base}/api/v1/analytics/summary?window=24h");
    let first: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let headers = [format!("Authorization: Bearer {token}")];
    let result = tokio::task::spawn_blocking(move || wrk(&url, 2, 16, 10, &headers)).await??;
    println!("| GET /analytics/summary?window=24h, cache hits (wrk -t2 -c16 -d10s; first answer: {}) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {} |",
        first["source"].as_str().unwrap_or("?"), result.requests_per_second, result.p50_ms, result.p99_ms, result.non_2xx);
    Ok(())
}
