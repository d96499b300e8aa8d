//! Payloads of `product_updates`, keyed by product id.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An exact price: `amount` is a decimal string (e.g. `"19.99"`), never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// Non-negative decimal with at most 4 fractional digits, as a string.
    pub amount: String,
    /// ISO 4217 code, upper case (e.g. `EUR`).
    pub currency: String,
}

/// The product as it is after the change (`product_created`, `product_updated`); also the
/// products API's representation of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductSnapshot {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The product's category (recommendations fall back on category popularity).
    pub category: String,
    pub tags: Vec<String>,
    pub price: Price,
    pub stock: i32,
    /// Inactive products are never recommended.
    pub active: bool,
    /// Free-form attributes (a JSON object).
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Starts at 1 and grows by 1 with every change: consumers ignore events with a version
    /// not newer than the one they have.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `product_deleted`: consumers drop the product at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeleted {
    pub id: Uuid,
    /// The version the product had when it was deleted, plus one.
    pub version: i64,
}
