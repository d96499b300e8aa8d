//! The services' answers the console reads, as typed records (only the fields it shows; the
//! services may add fields without breaking it).
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

pub use shared::events::product::ProductSnapshot as Product;

/// An account (users service).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub age: Option<i16>,
    pub country: Option<String>,
    #[serde(default)]
    pub interests: Vec<String>,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// A page of accounts or products.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Products by id (`products:batch`).
#[derive(Debug, Clone, Deserialize)]
pub struct Batch {
    pub items: Vec<Product>,
}

/// The session a login starts.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
}

/// A user's activity totals (analytics).
#[derive(Debug, Clone, Deserialize)]
pub struct Activity {
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    pub first_activity: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub active_days: i64,
}

/// One of a user's latest actions (analytics).
#[derive(Debug, Clone, Deserialize)]
pub struct RecentAction {
    pub action: String,
    pub product_id: Uuid,
    pub value: Option<f64>,
    pub occurred_at: DateTime<Utc>,
}

/// A user's latest actions.
#[derive(Debug, Clone, Deserialize)]
pub struct RecentActions {
    pub items: Vec<RecentAction>,
}

/// Why a product is in a list (recommender).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    SimilarTo { product_id: Uuid },
    PopularIn { category: String },
    Trending,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Recommended {
    pub product_id: Uuid,
    pub score: f64,
    pub reason: Reason,
}

/// A user's list, and where it came from (`cache`, `database`, `computed`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Recommendations {
    pub source: String,
    pub generated_at: DateTime<Utc>,
    pub items: Vec<Recommended>,
}

impl Recommendations {
    /// The products in list order (what "the list changed" compares).
    pub fn products(&self) -> Vec<Uuid> {
        self.items.iter().map(|i| i.product_id).collect()
    }
}

/// A product with a score (similar products).
#[derive(Debug, Clone, Deserialize)]
pub struct Scored {
    pub product_id: Uuid,
    pub score: f64,
}

/// One bucket of a product's statistics.
#[derive(Debug, Clone, Deserialize)]
pub struct Bucket {
    pub bucket_start: DateTime<Utc>,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub conversion_rate: Option<f64>,
}

/// A product's statistics over a window.
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    pub items: Vec<Bucket>,
}

/// One ranked product (`product_id`) or category (`category`).
#[derive(Debug, Clone, Deserialize)]
pub struct RankedRow {
    pub product_id: Option<Uuid>,
    pub category: Option<String>,
    pub value: f64,
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
}

/// A ranking.
#[derive(Debug, Clone, Deserialize)]
pub struct Ranking {
    pub items: Vec<RankedRow>,
}

/// Everything counted since the first event.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct AllTime {
    pub users: i64,
    pub products: i64,
    pub actions: i64,
}

/// The analytics summary of a window.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub totals: std::collections::BTreeMap<String, i64>,
    pub daily_active_users: i64,
    pub weekly_active_users: i64,
    #[serde(default)]
    pub all_time: AllTime,
}
