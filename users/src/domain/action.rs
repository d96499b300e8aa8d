//! User actions as the API accepts them.
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use shared::events::action::{ActionKind, UserAction};
use shared::http::FieldError;
use uuid::Uuid;

/// How far in the future an action's time may be (client clocks drift).
const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// One action in a request body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub product_id: Uuid,
    pub action: ActionKind,
    /// Rating for `rate`: 1 to 5 in steps of 0.5. Must be absent for other actions.
    #[serde(default)]
    pub value: Option<f64>,
    /// When it happened (RFC 3339); default: when the request arrived. From 1970 to at most 5
    /// minutes ahead.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Idempotency key: send the same id when retrying, and consumers count the action once.
    #[serde(default)]
    pub event_id: Option<Uuid>,
}

/// A validated action and the event id it will be published with.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidAction {
    pub event_id: Uuid,
    pub action: UserAction,
}

impl ActionRequest {
    /// Validates the action of `user_id`; `field` prefixes error paths (e.g. `[3]`).
    pub fn validate(
        self,
        user_id: Uuid,
        now: DateTime<Utc>,
        field: &str,
    ) -> Result<ValidAction, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut error = |name: &str, message: &str| {
            let path = if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
            errors.push(FieldError {
                field: path,
                message: message.to_owned(),
            });
        };
        match (self.action, self.value) {
            (ActionKind::Rate, None) => error("value", "is required for rate"),
            (ActionKind::Rate, Some(v)) if !((1.0..=5.0).contains(&v) && (v * 2.0).fract() == 0.0) => {
                error("value", "must be between 1 and 5 in steps of 0.5")
            }
            (ActionKind::Rate, Some(_)) => {}
            (_, Some(_)) => error("value", "is only allowed for rate"),
            (_, None) => {}
        }
        let occurred_at = self.occurred_at.unwrap_or(now);
        if occurred_at > now + MAX_CLOCK_SKEW {
            error("occurred_at", "must not be more than 5 minutes in the future");
        }
        // Consumers refuse earlier times (a year PostgreSQL cannot hold would otherwise reach
        // them).
        if occurred_at < shared::events::checks::earliest() {
            error("occurred_at", "must not be before 1970-01-01T00:00:00Z");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidAction {
            event_id: self.event_id.unwrap_or_else(Uuid::now_v7),
            action: UserAction {
                user_id,
                product_id: self.product_id,
                action: self.action,
                value: self.value,
                occurred_at,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(action: ActionKind, value: Option<f64>) -> ActionRequest {
        ActionRequest {
            product_id: Uuid::nil(),
            action,
            value,
            occurred_at: None,
            event_id: None,
        }
    }

    fn fields(result: Result<ValidAction, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn ratings_need_a_value_in_half_steps_from_1_to_5() {
        let now = Utc::now();
        assert!(request(ActionKind::Rate, Some(4.5))
            .validate(Uuid::nil(), now, "")
            .is_ok());
        assert_eq!(
            fields(request(ActionKind::Rate, None).validate(Uuid::nil(), now, "")),
            vec!["value"]
        );
        for bad in [0.5, 5.5, 4.2, f64::NAN] {
            assert!(
                request(ActionKind::Rate, Some(bad))
                    .validate(Uuid::nil(), now, "")
                    .is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            fields(request(ActionKind::View, Some(3.0)).validate(Uuid::nil(), now, "[2]")),
            vec!["[2].value"]
        );
    }

    #[test]
    fn far_future_actions_are_rejected_and_missing_times_default_to_now() {
        let now = Utc::now();
        let mut future = request(ActionKind::Click, None);
        future.occurred_at = Some(now + Duration::minutes(6));
        assert_eq!(fields(future.validate(Uuid::nil(), now, "")), vec!["occurred_at"]);
        let valid = request(ActionKind::Click, None)
            .validate(Uuid::nil(), now, "")
            .unwrap();
        assert_eq!(valid.action.occurred_at, now);
    }

    #[test]
    fn times_before_1970_are_rejected() {
        let now = Utc::now();
        for at in ["-5000-01-01T00:00:00Z", "1969-12-31T23:59:59Z"] {
            let mut old = request(ActionKind::View, None);
            old.occurred_at = Some(at.parse().unwrap());
            assert_eq!(
                fields(old.validate(Uuid::nil(), now, "")),
                vec!["occurred_at"],
                "{at}"
            );
        }
    }

    #[test]
    fn client_event_ids_are_kept() {
        let id = Uuid::now_v7();
        let mut with_id = request(ActionKind::Purchase, None);
        with_id.event_id = Some(id);
        assert_eq!(
            with_id.validate(Uuid::nil(), Utc::now(), "").unwrap().event_id,
            id
        );
    }
}
