//! Freshness at rest and recovery after SIGKILL, measured on the running native system
//! (`scripts/run up`, or after `benches/load/run`), through the public APIs only.
//!
//!     cargo bench -p benchmarks --bench probe                 # 30 rounds at rest
//!     PROBE_ROUNDS=50 cargo bench -p benchmarks --bench probe
//!     cargo bench -p benchmarks --bench probe -- --kill       # SIGKILL the recommender first
//!
//! A round: two new products x and y and two new users. The first posts "view x, view y" (one
//! request); from its 202 the probe measures (1) until `GET /products/x/similar` holds y, and
//! (2) until the list of the second user, who views x every 200 ms meanwhile, holds y "similar
//! to" x: a co-interaction reaching a list built after it. With `--kill` the recommender is
//! SIGKILLed and restarted (as `scripts/run up` starts it), and the probe reports the time to `/ready` and
//! to the first fresh list after the kill, then runs the rounds.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use benchmarks::created_id;
use serde_json::{json, Value};
use uuid::Uuid;

const USERS: &str = "http://127.0.0.1:8081/api/v1";
const PRODUCTS: &str = "http://127.0.0.1:8082/api/v1";
const RECOMMENDER: &str = "http://127.0.0.1:8083";
/// Longest a round waits before counting as failed.
const GIVE_UP: Duration = Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let admin = login(&client, "admin@example.com", "local-admin-password").await?;
    if std::env::args().any(|a| a == "--kill") {
        kill_and_restart(&client, &admin).await?;
    }
    let rounds: usize = std::env::var("PROBE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let (mut similar, mut lists) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (s, l) = round(&client, &admin).await?;
        similar.push(s);
        lists.push(l);
    }
    println!("{rounds} rounds at rest, from the 202 of \"view x, view y\":");
    println!(
        "  y in similar(x):                      {}",
        summary(&mut similar)
    );
    println!(
        "  y in a list built after it (similar_to x): {}",
        summary(&mut lists)
    );
    Ok(())
}

/// SIGKILL of the running recommender, restart, and the times to `/ready` and to a fresh list.
async fn kill_and_restart(client: &reqwest::Client, admin: &str) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pid_file = root.join(".infra/run/recommender.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("{} (start the system with scripts/run up)", pid_file.display()))?;
    let killed = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -9 {} failed", pid.trim());
    // Started as scripts/run starts it (no build: that would be timed too).
    let log = std::fs::File::create(root.join(".infra/run/recommender.log"))?;
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let restarted = std::process::Command::new(root.join("target/release/recommender"))
        .env("APP_CONFIG_DIR", root.join("recommender/configuration"))
        .env(
            "APP_KAFKA__GROUP_INSTANCE_ID",
            format!("recommender@{}", host.trim()),
        )
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("target/release/recommender does not start (build it first)")?;
    std::fs::write(&pid_file, restarted.id().to_string())?;
    let ready = loop {
        let answer = client.get(format!("{RECOMMENDER}/ready")).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            break killed.elapsed();
        }
        anyhow::ensure!(
            killed.elapsed() < Duration::from_secs(120),
            "not ready after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let metrics = client
        .get(format!("{RECOMMENDER}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let restore = metrics
        .lines()
        .find(|l| l.starts_with("replica_restore_seconds"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("?")
        .to_owned();
    let (_, list) = round(client, admin).await?;
    let fresh = killed.elapsed();
    println!("after SIGKILL: /ready after {:.2} s (replica restore {restore} s); first fresh list (a round's list) {:.2} s after the kill, the round itself {:.2} s",
        ready.as_secs_f64(), fresh.as_secs_f64(), list.as_secs_f64());
    // The process goes on running (scripts/run down stops it).
    drop(restarted);
    Ok(())
}

/// One round: (time to y in similar(x), time to y in another user's list).
async fn round(client: &reqwest::Client, admin: &str) -> anyhow::Result<(Duration, Duration)> {
    let x = product(client, admin, "Probe X").await?;
    let y = product(client, admin, "Probe Y").await?;
    let (first, first_token) = user(client).await?;
    let (second, second_token) = user(client).await?;
    let start = Instant::now();
    act(
        client,
        first,
        &first_token,
        json!([{"product_id": x, "action": "view"}, {"product_id": y, "action": "view"}]),
    )
    .await?;
    let acted = start.elapsed();
    let (mut similar, mut listed) = (None, None);
    let mut next_view = Duration::ZERO;
    while similar.is_none() || listed.is_none() {
        let now = start.elapsed();
        anyhow::ensure!(now < GIVE_UP, "a round took longer than {GIVE_UP:?}");
        if similar.is_none() {
            let answer: Value = client
                .get(format!("{RECOMMENDER}/api/v1/products/{x}/similar"))
                .bearer_auth(&second_token)
                .send()
                .await?
                .json()
                .await?;
            if answer
                .as_array()
                .is_some_and(|a| a.iter().any(|i| i["product_id"] == json!(y)))
            {
                similar = Some(start.elapsed() - acted);
            }
        }
        if listed.is_none() {
            if now >= next_view {
                act(
                    client,
                    second,
                    &second_token,
                    json!({"product_id": x, "action": "view"}),
                )
                .await?;
                next_view = now + Duration::from_millis(200);
            }
            let answer: Value = client
                .get(format!(
                    "{RECOMMENDER}/api/v1/users/{second}/recommendations?limit=10"
                ))
                .bearer_auth(&second_token)
                .send()
                .await?
                .json()
                .await?;
            let has = answer["items"].as_array().is_some_and(|items| {
                items.iter().any(|i| {
                    i["product_id"] == json!(y)
                        && i["reason"] == json!({"type": "similar_to", "product_id": x})
                })
            });
            if has {
                listed = Some(start.elapsed() - acted);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((similar.unwrap_or_default(), listed.unwrap_or_default()))
}

fn summary(values: &mut [Duration]) -> String {
    values.sort();
    let at = |q: f64| values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1];
    format!(
        "p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        at(0.5).as_secs_f64(),
        at(0.99).as_secs_f64(),
        values[values.len() - 1].as_secs_f64()
    )
}

async fn login(client: &reqwest::Client, email: &str, password: &str) -> anyhow::Result<String> {
    let answer: Value = client
        .post(format!("{USERS}/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no access token")
}

async fn product(client: &reqwest::Client, admin: &str, name: &str) -> anyhow::Result<Uuid> {
    let body = json!({"name": name, "category": "Probes", "price": {"amount": "1.00", "currency": "EUR"}});
    created_id(
        client
            .post(format!("{PRODUCTS}/products"))
            .bearer_auth(admin)
            .json(&body),
    )
    .await
}

async fn user(client: &reqwest::Client) -> anyhow::Result<(Uuid, String)> {
    let email = format!("probe-{}@example.com", Uuid::now_v7().simple());
    let body = json!({"email": email, "password": "probe password 1234", "display_name": "probe"});
    let id = created_id(client.post(format!("{USERS}/users")).json(&body)).await?;
    Ok((id, login(client, &email, "probe password 1234").await?))
}

async fn act(client: &reqwest::Client, user: Uuid, token: &str, body: Value) -> anyhow::Result<()> {
    client
        .post(format!("{USERS}/users/{user}/actions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?
        .error_for_status()
        .context("action not accepted")?;
    Ok(())
}
