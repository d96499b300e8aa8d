//! The workloads and their requests files (wrk and Vegeta formats) from the seeded ids.
use super::*;

/// The workloads in the order they run: reads first, then the mix, then ingestion (which
/// leaves a backlog behind it).
pub(super) const WORKLOADS: &[(&str, &str, usize)] = &[
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
pub(super) struct Targets {
    pub(super) dir: PathBuf,
}

impl Targets {
    pub(super) fn wrk(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wrk"))
    }
    pub(super) fn vegeta(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.vegeta.jsonl"))
    }
}

/// One request of a workload: (base URL, method, path, body).
type Request = (&'static str, &'static str, String, Option<String>);

pub(super) fn requests(name: &str, seeded: &Seeded) -> Vec<Request> {
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

pub(super) fn write_targets(plan: &Plan, seeded: &Seeded) -> anyhow::Result<Targets> {
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
