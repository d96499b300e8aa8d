//! Property: listing with any page size visits every product exactly once, in order.
use std::sync::OnceLock;

use proptest::prelude::*;
use reqwest::Method;
use serde_json::Value;
use shared::testing::start_in_background;

use crate::helpers::{product, spawn_app, TestApp};

const PRODUCTS: usize = 23;

/// One service with 23 products (every third inactive) for all cases.
fn catalogue() -> &'static ((TestApp, Vec<String>), tokio::runtime::Runtime) {
    static APP: OnceLock<((TestApp, Vec<String>), tokio::runtime::Runtime)> = OnceLock::new();
    APP.get_or_init(|| {
        start_in_background(|| async {
            let app = spawn_app().await;
            let mut ids = Vec::new();
            for i in 0..PRODUCTS {
                let mut body = product(&format!("P{i}"), if i % 2 == 0 { "Even" } else { "Odd" });
                body["active"] = Value::Bool(i % 3 != 0);
                ids.push(app.create(&body).await["id"].as_str().unwrap().to_owned());
            }
            (app, ids)
        })
    })
}

async fn walk(app: &TestApp, limit: u64, filter: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = format!("/products?limit={limit}{filter}");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app
            .request(Method::GET, &query, None)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit);
        seen.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn paging_with_any_page_size_visits_every_product_exactly_once(limit in 1u64..=30, filtered in any::<bool>()) {
        let ((app, ids), runtime) = catalogue();
        let (filter, expected): (&str, Vec<String>) = if filtered {
            ("&category=Even&active=true", ids.iter().enumerate().filter(|(i, _)| i % 2 == 0 && i % 3 != 0).map(|(_, id)| id.clone()).collect())
        } else {
            ("", ids.clone())
        };
        let seen = runtime.block_on(walk(app, limit, filter));
        prop_assert_eq!(seen, expected);
    }
}
