//! A user's list and why each product is on it: what is stored, cached and answered.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an item is on the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Users who interacted with this product of yours went on to this one.
    SimilarTo { product_id: Uuid },
    /// Popular in a category you like or interact with.
    PopularIn { category: String },
    /// Popular overall right now.
    Trending,
}

/// One recommended product. Items filled from popularity have score 0 (the order is the list's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub product_id: Uuid,
    pub score: f64,
    pub reason: Reason,
}

/// A user's list as stored and cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationList {
    pub items: Vec<Recommendation>,
    pub generated_at: DateTime<Utc>,
    /// The version of the user's sequence the list was built from (0: no history).
    #[serde(default)]
    pub based_on: i64,
}
