//! What analytics answers: windows, ranking metrics, and the statistics of products and users,
//! as the API shows them (the repository reads them, the routes shape the answers).
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::buckets::Bucket;

/// A time window ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub enum Window {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Window {
    /// How far back the window reaches.
    pub fn length(self) -> TimeDelta {
        match self {
            Window::Hour => TimeDelta::hours(1),
            Window::Day => TimeDelta::hours(24),
            Window::Week => TimeDelta::days(7),
            Window::Month => TimeDelta::days(30),
        }
    }

    /// The natural bucket width for the window.
    pub fn default_bucket(self) -> Bucket {
        match self {
            Window::Hour => Bucket::Minute,
            Window::Day => Bucket::Hour,
            Window::Week | Window::Month => Bucket::Day,
        }
    }
}

/// What rankings can order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Views,
    Clicks,
    AddToCart,
    Purchases,
    Ratings,
    /// purchases / views (products with views only).
    Conversion,
}

/// One product (or category) ranked by a metric, with its summed counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The product id or the category.
    pub key: String,
    pub value: f64,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
}

/// One bucket of a product's statistics.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductBucket {
    pub bucket_start: DateTime<Utc>,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    /// Mean rating, absent without ratings.
    pub rating_average: Option<f64>,
    /// Distinct users who acted on the product in the bucket (exact).
    pub unique_users: i64,
    /// purchases / views, absent without views.
    pub conversion_rate: Option<f64>,
}

/// A product's series.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductSeries {
    pub product_id: Uuid,
    pub window: Window,
    pub bucket: Bucket,
    pub items: Vec<ProductBucket>,
}

/// `numerator / denominator`, absent when the denominator is not positive.
pub fn ratio(numerator: i64, denominator: f64) -> Option<f64> {
    (denominator > 0.0).then(|| numerator as f64 / denominator)
}

/// A user's activity since their first action.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserActivity {
    pub user_id: Uuid,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    pub first_activity: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    /// Distinct UTC days with at least one action.
    pub active_days: i64,
}

/// One of a user's latest actions, from the raw events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentAction {
    pub event_id: Uuid,
    /// `view`, `click`, `add_to_cart`, `purchase` or `rate`.
    pub action: String,
    pub product_id: Uuid,
    /// The rating, for `rate`.
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
}

/// A user's latest actions, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecentActions {
    pub user_id: Uuid,
    pub items: Vec<RecentAction>,
}

/// Everything counted since the first event: accounts and products that exist, actions taken
/// (from the day buckets of the global counters, which are never pruned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllTime {
    /// Registrations minus deletions.
    pub users: i64,
    /// Products created minus deleted.
    pub products: i64,
    /// Actions of every kind.
    pub actions: i64,
}

impl AllTime {
    /// From the global counters summed over every day bucket.
    pub fn from_totals(totals: &std::collections::BTreeMap<String, i64>) -> Self {
        let of = |metric: &str| totals.get(metric).copied().unwrap_or(0);
        Self {
            users: of("registrations") - of("users_deleted"),
            products: of("products_created") - of("products_deleted"),
            actions: ["view", "click", "add_to_cart", "purchase", "rate"]
                .iter()
                .map(|m| of(m))
                .sum(),
        }
    }
}

#[cfg(test)]
mod all_time_tests {
    use super::*;

    #[test]
    fn all_time_figures_net_deletions_and_sum_every_action_kind() {
        let totals = [
            ("registrations", 10),
            ("users_deleted", 3),
            ("products_created", 7),
            ("products_updated", 40),
            ("view", 100),
            ("purchase", 5),
            ("rate", 2),
        ]
        .into_iter()
        .map(|(m, v)| (m.to_owned(), v))
        .collect();
        assert_eq!(
            AllTime::from_totals(&totals),
            AllTime {
                users: 7,
                products: 7,
                actions: 107
            }
        );
    }
}
