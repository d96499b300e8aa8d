//! View models: the services' records shaped for the pages (names instead of ids, reasons in
//! words, chart lines, changes between two lists).
use std::collections::HashMap;

use chrono::DateTime;
use uuid::Uuid;

use super::charts::Line;
use super::platform::{Bucket, Product, Reason, Recommendations};

/// One row of a user's list as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub rank: usize,
    pub product_id: Uuid,
    pub name: String,
    pub category: String,
    pub score: String,
    pub reason: String,
    /// New since the list shown before (the simulate panel).
    pub new: bool,
}

/// A product's name, or its id when the catalogue no longer has it.
pub fn name_of(products: &HashMap<Uuid, Product>, id: Uuid) -> String {
    products
        .get(&id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// A reason in words: "because you viewed X", "popular in C", "trending".
pub fn reason_text(reason: &Reason, products: &HashMap<Uuid, Product>) -> String {
    match reason {
        Reason::SimilarTo { product_id } => format!("because you viewed {}", name_of(products, *product_id)),
        Reason::PopularIn { category } => format!("popular in {category}"),
        Reason::Trending => "trending".to_owned(),
    }
}

/// The rows of `list`, marking the products `before` did not hold.
pub fn list_rows(
    list: &Recommendations,
    products: &HashMap<Uuid, Product>,
    before: Option<&Recommendations>,
) -> Vec<ListRow> {
    list.items
        .iter()
        .enumerate()
        .map(|(i, item)| ListRow {
            rank: i + 1,
            product_id: item.product_id,
            name: name_of(products, item.product_id),
            category: products
                .get(&item.product_id)
                .map(|p| p.category.clone())
                .unwrap_or_default(),
            score: format!("{:.3}", item.score),
            reason: reason_text(&item.reason, products),
            new: before.is_some_and(|b| !b.items.iter().any(|o| o.product_id == item.product_id)),
        })
        .collect()
}

/// Every product id a list mentions (its items and the items its reasons name).
pub fn mentioned(list: &Recommendations) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = list.products();
    ids.extend(list.items.iter().filter_map(|i| match i.reason {
        Reason::SimilarTo { product_id } => Some(product_id),
        Reason::PopularIn { .. } | Reason::Trending => None,
    }));
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// True when the user's list is not the one seen before: rebuilt (a newer `generated_at`)
/// or holding other products or another order.
pub fn list_changed(before: &Recommendations, after: &Recommendations) -> bool {
    after.generated_at > before.generated_at || after.products() != before.products()
}

/// A product's statistics as chart lines (x: Unix seconds of each bucket).
pub fn activity_lines(buckets: &[Bucket]) -> Vec<Line<'static>> {
    let line = |label: &'static str, value: fn(&Bucket) -> i64| Line {
        label,
        points: buckets
            .iter()
            .map(|b| (b.bucket_start.timestamp() as f64, value(b) as f64))
            .collect(),
    };
    vec![
        line("views", |b| b.views),
        line("clicks", |b| b.clicks),
        line("carts", |b| b.add_to_cart),
        line("purchases", |b| b.purchases),
    ]
}

/// Every bucket of `step_seconds` from the one holding `from` to the one holding `to`, with
/// zeros where analytics has none (it stores only buckets with activity).
pub fn fill_buckets(buckets: &[Bucket], from: i64, to: i64, step_seconds: i64) -> Vec<Bucket> {
    let step = step_seconds.max(1);
    let by_start: HashMap<i64, &Bucket> = buckets.iter().map(|b| (b.bucket_start.timestamp(), b)).collect();
    let mut start = from.div_euclid(step) * step;
    let mut filled = Vec::new();
    while start <= to {
        let bucket = by_start.get(&start).map_or_else(
            || Bucket {
                bucket_start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
                views: 0,
                clicks: 0,
                add_to_cart: 0,
                purchases: 0,
                conversion_rate: None,
            },
            |b| (*b).clone(),
        );
        filled.push(bucket);
        start += step;
    }
    filled
}

/// Purchases per view over the buckets, as a percentage with one decimal ("–" without views).
pub fn conversion(buckets: &[Bucket]) -> String {
    let views: i64 = buckets.iter().map(|b| b.views).sum();
    let purchases: i64 = buckets.iter().map(|b| b.purchases).sum();
    if views == 0 {
        "–".to_owned()
    } else {
        format!("{:.1} %", 100.0 * purchases as f64 / views as f64)
    }
}

/// A price as "19.99 EUR".
pub fn price(product: &Product) -> String {
    format!("{} {}", product.price.amount, product.price.currency)
}

/// A figure with at most two decimals, or "–" when there is none.
pub fn figure(value: Option<f64>, unit: &str) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let number = if v.abs() >= 100.0 || v == v.trunc() {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            };
            if unit.is_empty() {
                number
            } else {
                format!("{number} {unit}")
            }
        }
        _ => "–".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::platform::Recommended;

    fn product(id: u128, name: &str, category: &str) -> (Uuid, Product) {
        let json = serde_json::json!({
            "id": Uuid::from_u128(id), "name": name, "description": "", "category": category, "tags": [],
            "price": {"amount": "9.50", "currency": "EUR"}, "stock": 1, "active": true, "attributes": {},
            "version": 1, "created_at": Utc::now(), "updated_at": Utc::now()
        });
        (Uuid::from_u128(id), serde_json::from_value(json).unwrap())
    }

    fn list(at: i64, items: &[(u128, Reason)]) -> Recommendations {
        Recommendations {
            source: "cache".into(),
            generated_at: Utc.timestamp_opt(at, 0).unwrap(),
            items: items
                .iter()
                .map(|(id, reason)| Recommended {
                    product_id: Uuid::from_u128(*id),
                    score: 0.5,
                    reason: reason.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn rows_name_products_and_say_why_in_words() {
        let products: HashMap<Uuid, Product> = [product(1, "Tea", "Food"), product(2, "Mug", "Home")].into();
        let similar = Reason::SimilarTo {
            product_id: Uuid::from_u128(1),
        };
        let before = list(1, &[(2, Reason::Trending)]);
        let after = list(
            2,
            &[
                (2, similar.clone()),
                (
                    3,
                    Reason::PopularIn {
                        category: "Toys".into(),
                    },
                ),
            ],
        );
        let rows = list_rows(&after, &products, Some(&before));
        assert_eq!(rows[0].name, "Mug");
        assert_eq!(rows[0].reason, "because you viewed Tea");
        assert!(!rows[0].new);
        assert_eq!(rows[1].name, Uuid::from_u128(3).to_string());
        assert_eq!(rows[1].reason, "popular in Toys");
        assert!(rows[1].new);
        assert_eq!(reason_text(&Reason::Trending, &products), "trending");
        assert_eq!(
            mentioned(&after),
            vec![Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]
        );
        assert_eq!(price(&products[&Uuid::from_u128(1)]), "9.50 EUR");
    }

    #[test]
    fn a_list_changes_when_rebuilt_or_reordered() {
        let a = list(1, &[(1, Reason::Trending), (2, Reason::Trending)]);
        assert!(!list_changed(&a, &a.clone()));
        assert!(list_changed(
            &a,
            &list(2, &[(1, Reason::Trending), (2, Reason::Trending)])
        ));
        assert!(list_changed(
            &a,
            &list(1, &[(2, Reason::Trending), (1, Reason::Trending)])
        ));
    }

    #[test]
    fn activity_becomes_four_lines_and_a_conversion_rate() {
        let bucket = |h: i64, views, purchases| Bucket {
            bucket_start: Utc.timestamp_opt(h * 3600, 0).unwrap(),
            views,
            clicks: 1,
            add_to_cart: 0,
            purchases,
            conversion_rate: None,
        };
        let buckets = [bucket(1, 10, 1), bucket(2, 30, 2)];
        let lines = activity_lines(&buckets);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].points, vec![(3600.0, 10.0), (7200.0, 30.0)]);
        assert_eq!(conversion(&buckets), "7.5 %");
        let filled = fill_buckets(&buckets, 0, 4 * 3600 + 10, 3600);
        assert_eq!(filled.len(), 5);
        assert_eq!(
            filled.iter().map(|b| b.views).collect::<Vec<_>>(),
            vec![0, 10, 30, 0, 0]
        );
        assert_eq!(conversion(&[]), "–");
        assert_eq!(figure(Some(0.256), "s"), "0.26 s");
        assert_eq!(figure(Some(1500.0), ""), "1500");
        assert_eq!(figure(None, "ms"), "–");
    }
}
