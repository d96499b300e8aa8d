//! The pure part of an analytics flush: a batch of distinct events becomes additive increments.
//! Keys are ordered (BTreeMap/BTreeSet) so that concurrent flushes write shared rows in one order.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use shared::events::action::ActionKind;
use uuid::Uuid;

use crate::buckets::Bucket;

/// One event as analytics records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub event_id: Uuid,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    /// For `user_action` events: the action and its value.
    pub action: Option<(ActionKind, Option<f64>)>,
    pub payload: serde_json::Value,
}

/// Counters of actions by type (and ratings).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ActionCounts {
    pub views: i64,
    pub clicks: i64,
    pub add_to_cart: i64,
    pub purchases: i64,
    pub ratings: i64,
    pub rating_sum: f64,
}

impl ActionCounts {
    fn add(&mut self, action: ActionKind, value: Option<f64>) {
        match action {
            ActionKind::View => self.views += 1,
            ActionKind::Click => self.clicks += 1,
            ActionKind::AddToCart => self.add_to_cart += 1,
            ActionKind::Purchase => self.purchases += 1,
            ActionKind::Rate => {
                self.ratings += 1;
                self.rating_sum += value.unwrap_or(0.0);
            }
        }
    }
}

/// A user's increments: counts and the time span of the batch's actions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserIncrement {
    pub counts: ActionCounts,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// Everything one flush adds.
#[derive(Debug, Default, PartialEq)]
pub struct Increments {
    pub products: BTreeMap<(Uuid, Bucket, DateTime<Utc>), ActionCounts>,
    /// (product, bucket, start, user) seen acting: unique users are counted from the new ones.
    pub product_users: BTreeSet<(Uuid, Bucket, DateTime<Utc>, Uuid)>,
    pub users: BTreeMap<Uuid, UserIncrement>,
    pub active_days: BTreeSet<(NaiveDate, Uuid)>,
    /// (bucket, start, metric) → count; metrics: action names, `registrations`,
    /// `users_updated`, `users_deleted`, `products_created`, `products_updated`, `products_deleted`.
    pub global: BTreeMap<(Bucket, DateTime<Utc>, String), i64>,
}

/// The global metric an event adds to (besides actions).
fn metric(event_type: &str) -> Option<&'static str> {
    match event_type {
        "user_registered" => Some("registrations"),
        "user_updated" => Some("users_updated"),
        "user_deleted" => Some("users_deleted"),
        "product_created" => Some("products_created"),
        "product_updated" => Some("products_updated"),
        "product_deleted" => Some("products_deleted"),
        _ => None,
    }
}

/// The increments of `events` (already deduplicated by the caller).
pub fn increments(events: &[Recorded]) -> Increments {
    let mut out = Increments::default();
    for event in events {
        let at = event.occurred_at;
        let global_metric = match (&event.action, metric(&event.event_type)) {
            (Some((action, _)), _) => Some(action.as_str()),
            (None, metric) => metric,
        };
        if let Some(metric) = global_metric {
            for bucket in Bucket::ALL {
                *out.global
                    .entry((bucket, bucket.start(at), metric.to_owned()))
                    .or_default() += 1;
            }
        }
        let (Some((action, value)), Some(user), Some(product)) =
            (event.action, event.user_id, event.product_id)
        else {
            continue;
        };
        for bucket in Bucket::ALL {
            let start = bucket.start(at);
            out.products
                .entry((product, bucket, start))
                .or_default()
                .add(action, value);
            out.product_users.insert((product, bucket, start, user));
        }
        let entry = out.users.entry(user).or_insert(UserIncrement {
            counts: ActionCounts::default(),
            first_at: at,
            last_at: at,
        });
        entry.counts.add(action, value);
        entry.first_at = entry.first_at.min(at);
        entry.last_at = entry.last_at.max(at);
        out.active_days.insert((at.date_naive(), user));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn action(user: u128, product: u128, action: ActionKind, value: Option<f64>, minute: u32) -> Recorded {
        Recorded {
            event_id: Uuid::now_v7(),
            topic: "user_actions".into(),
            partition: 0,
            offset: 0,
            event_type: "user_action".into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 28, 10, minute, 0).unwrap(),
            user_id: Some(Uuid::from_u128(user)),
            product_id: Some(Uuid::from_u128(product)),
            action: Some((action, value)),
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn actions_count_per_product_bucket_user_and_globally() {
        let events = vec![
            action(1, 9, ActionKind::View, None, 1),
            action(1, 9, ActionKind::View, None, 2),
            action(2, 9, ActionKind::Rate, Some(4.0), 2),
            action(2, 9, ActionKind::Purchase, None, 3),
        ];
        let inc = increments(&events);
        let hour = Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let counts = inc.products[&(Uuid::from_u128(9), Bucket::Hour, hour)];
        assert_eq!(
            (counts.views, counts.purchases, counts.ratings, counts.rating_sum),
            (2, 1, 1, 4.0)
        );
        let users_in_hour = inc
            .product_users
            .iter()
            .filter(|(_, b, s, _)| *b == Bucket::Hour && *s == hour)
            .count();
        assert_eq!(users_in_hour, 2);
        assert_eq!(
            inc.global[&(
                Bucket::Day,
                hour.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc(),
                "view".to_owned()
            )],
            2
        );
        let user = inc.users[&Uuid::from_u128(1)];
        assert_eq!(
            (
                user.counts.views,
                user.first_at.format("%M").to_string(),
                user.last_at.format("%M").to_string()
            ),
            (2, "01".into(), "02".into())
        );
        assert_eq!(inc.active_days.len(), 2);
    }
}
