//! Payload of `user_actions`. Weights are not decided here: the recommender owns them.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user did with a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    View,
    Click,
    AddToCart,
    Purchase,
    /// Carries a rating in `value`.
    Rate,
}

impl ActionKind {
    /// Every kind, in funnel order.
    pub const ALL: [ActionKind; 5] = [
        ActionKind::View,
        ActionKind::Click,
        ActionKind::AddToCart,
        ActionKind::Purchase,
        ActionKind::Rate,
    ];

    /// The wire name (`view`, `click`, `add_to_cart`, `purchase`, `rate`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::View => "view",
            ActionKind::Click => "click",
            ActionKind::AddToCart => "add_to_cart",
            ActionKind::Purchase => "purchase",
            ActionKind::Rate => "rate",
        }
    }
}

/// One action (`user_action`), keyed by `user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserAction {
    pub user_id: Uuid,
    pub product_id: Uuid,
    pub action: ActionKind,
    /// The rating (1 to 5, half steps) for `rate`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// When the user did it (the envelope's `occurred_at` is the same instant).
    pub occurred_at: DateTime<Utc>,
}
