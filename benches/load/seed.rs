//! Seeding through the public APIs: products, users, actions; then both pipelines drained.
use super::*;

/// What seeding created and one real cached answer (the bytes the HTTP ceiling returns).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Seeded {
    pub(super) users: Vec<Uuid>,
    pub(super) products: Vec<Uuid>,
    pub(super) cached_body: Vec<u8>,
    /// One action envelope as the users service publishes it (the Kafka ceiling's payload).
    pub(super) envelope: String,
}

pub(super) async fn seed(client: &reqwest::Client, plan: &Plan) -> anyhow::Result<Seeded> {
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
pub(super) fn action(products: &[Uuid], u: usize, k: usize) -> Value {
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
pub(super) fn hash(a: u64, b: u64, salt: u64) -> f64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(salt.wrapping_mul(0x94D0_49BB_1331_11EB));
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn sample_envelope(users: &[Uuid], products: &[Uuid]) -> String {
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
pub(super) struct Backlog {
    /// Seconds until the recommender caught up after the last burst, or messages left.
    pub(super) drain: Result<f64, i64>,
    /// Consumer lag (recommender + analytics) at the very end.
    pub(super) lag: f64,
    /// `actions_single` with the consumers paused, measured after the drain.
    pub(super) alone: (WrkResult, CpuShare),
}

/// From now (the end of the last ingestion burst) until the recommender's committed offsets
/// reach the end of `user_actions` (offsets are committed once their flush is durable, every
/// second): `Ok(seconds)`, or `Err(messages left)` after `limit`.
pub(super) async fn drain_time(limit: Duration) -> Result<f64, i64> {
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
pub(super) async fn lag_after() -> f64 {
    let mut lag = 0.0;
    for base in [RECOMMENDER_URL, ANALYTICS_URL] {
        if let Ok(metrics) = text(&format!("{base}/metrics")).await {
            lag += gauge_sum(&metrics, "kafka_consumer_lag");
        }
    }
    lag
}

pub(super) fn gauge_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// GET on a connection of its own: an attack leaves pooled connections that the server has
/// closed meanwhile.
pub(super) async fn text(url: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    Ok(client.get(url).send().await?.text().await?)
}
