//! A day in the life, as a user of the platform would see it, across all four services.
use reqwest::Method;
use serde_json::{json, Value};

use crate::system::{act, listed, product, register, System};

#[actix_web::test]
async fn users_products_recommendations_and_analytics_work_together() {
    let system = System::start().await;
    let admin = system.admin_token().await;
    let lamp = product(&system, &admin, "Lamp", "Lighting").await;
    let bulb = product(&system, &admin, "Bulb", "Lighting").await;
    let shade = product(&system, &admin, "Shade", "Lighting").await;
    let chair = product(&system, &admin, "Chair", "Furniture").await;

    // Two shoppers go from the lamp to the bulb; one of them buys it. A third only views the lamp.
    let (ann, ann_token) = register(&system, "ann").await;
    let (bob, bob_token) = register(&system, "bob").await;
    let (cid, cid_token) = register(&system, "cid").await;
    act(&system, ann, &ann_token, &[(lamp, "view"), (bulb, "purchase")]).await;
    act(
        &system,
        bob,
        &bob_token,
        &[(lamp, "view"), (bulb, "view"), (shade, "view")],
    )
    .await;
    // Lists are recomputed for the users a flush touches: let those co-interactions land before
    // the newcomer arrives (their partitions flush independently of cid's).
    let similar = format!("{}/products/{lamp}/similar", system.recommender());
    system
        .until("the bulb is similar to the lamp", &similar, |s| {
            s[0]["product_id"] == json!(bulb)
        })
        .await;
    act(&system, cid, &cid_token, &[(chair, "view"), (lamp, "view")]).await;

    // The recommender suggests the bulb to the newcomer, because of the lamp. (Viewed products
    // stay recommendable by default, so the lamp itself may rank first, via the chair.)
    let url = format!("{}/users/{cid}/recommendations?limit=10", system.recommender());
    let bulb_item = |l: &Value| {
        l["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["product_id"] == json!(bulb)).cloned())
    };
    let list = system
        .until("cid's list suggests the bulb", &url, |l| {
            bulb_item(l).is_some_and(|i| i["reason"]["type"] == "similar_to")
        })
        .await;
    assert_eq!(bulb_item(&list).unwrap()["reason"]["product_id"], json!(lamp));
    // What ann bought is never recommended to her.
    let ann_url = format!("{}/users/{ann}/recommendations?limit=10", system.recommender());
    let ann_list = system
        .until("ann's list exists", &ann_url, |l| l["source"] != Value::Null)
        .await;
    assert!(!listed(&ann_list).contains(&bulb), "{ann_list}");
    // Repeat reads come from the cache.
    let again = system
        .until("a cached answer", &url, |l| l["source"] == "cache")
        .await;
    assert_eq!(listed(&again), listed(&list));

    // Analytics counts exactly.
    let lamp_stats = format!(
        "{}/analytics/products/{lamp}?window=1h&bucket=hour",
        system.analytics()
    );
    let stats = system
        .until("lamp views are counted", &lamp_stats, |s| {
            s["items"][0]["views"] == 3
        })
        .await;
    assert_eq!(stats["items"][0]["unique_users"], 3);
    let bulb_stats = format!(
        "{}/analytics/products/{bulb}?window=1h&bucket=hour",
        system.analytics()
    );
    let stats = system
        .until("bulb purchases are counted", &bulb_stats, |s| {
            s["items"][0]["purchases"] == 1
        })
        .await;
    assert_eq!(
        (
            stats["items"][0]["views"].clone(),
            stats["items"][0]["conversion_rate"].clone()
        ),
        (json!(1), json!(1.0))
    );
    let summary_url = format!("{}/analytics/summary?window=24h", system.analytics());
    let summary = system
        .until(
            "registrations and catalogue changes are counted",
            &summary_url,
            |s| {
                s["totals"]["registrations"] == 4
                    && s["totals"]["products_created"] == 4
                    && s["totals"]["view"] == 6
            },
        )
        .await;
    assert_eq!(summary["daily_active_users"], 3);
    let cached = system
        .until("a cached summary", &summary_url, |s| s["source"] == "cache")
        .await;
    assert_eq!(cached["totals"], summary["totals"]);

    // A deleted product disappears from every list.
    let (status, _) = system
        .call(
            Method::DELETE,
            &format!("{}/products/{bulb}", system.products()),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    system
        .until("the bulb leaves cid's list", &url, |l| !listed(l).contains(&bulb))
        .await;
}
