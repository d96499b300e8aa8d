//! What a consumer checks in an event before applying it. Every byte read from Kafka is
//! untrusted (anything that can write to a topic can write anything): a value that a store or a
//! computation cannot take — a year PostgreSQL cannot hold, a time whose popularity weight
//! overflows, a NUL that `jsonb` refuses, an unbounded string — is refused here, so the event
//! goes to the dead-letter topic instead of failing flushes. The bounds are wider than the APIs'
//! (a producer may be newer), never narrower.
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::action::{ActionKind, UserAction};
use super::product::ProductSnapshot;
use super::user::UserProfile;

/// Longest label (name, category, tag, interest, country), in characters.
pub const MAX_LABEL: usize = 1_000;
/// Longest free text (description), in characters.
pub const MAX_TEXT: usize = 100_000;
/// Most labels in a list (tags, interests).
pub const MAX_LABELS: usize = 1_000;
/// How far after the consumer's clock an event's time may be (producers' clocks drift; the
/// APIs allow 5 minutes).
pub const MAX_FUTURE: Duration = Duration::days(1);

/// The earliest time an event may carry: 1970-01-01T00:00:00Z.
pub fn earliest() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `time` lies between 1970 and `now` + [`MAX_FUTURE`].
pub fn time(field: &str, time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    if time < earliest() || time > now + MAX_FUTURE {
        return Err(format!(
            "{field} {} is outside 1970-01-01 .. now + {} hours",
            time.to_rfc3339(),
            MAX_FUTURE.num_hours()
        ));
    }
    Ok(())
}

/// A one-line label: at most [`MAX_LABEL`] characters, no control characters.
pub fn label(field: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_LABEL {
        return Err(format!("{field} is longer than {MAX_LABEL} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

/// Labels: at most [`MAX_LABELS`] of them, each a [`label`].
pub fn labels(field: &str, values: &[String]) -> Result<(), String> {
    if values.len() > MAX_LABELS {
        return Err(format!("{field} has more than {MAX_LABELS} items"));
    }
    values.iter().try_for_each(|value| label(field, value))
}

/// Free text: at most [`MAX_TEXT`] characters; line breaks and tabs but no other control
/// characters (NUL in particular, which PostgreSQL's text and jsonb refuse).
pub fn text(field: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_TEXT {
        return Err(format!("{field} is longer than {MAX_TEXT} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(format!("{field} contains control characters"));
    }
    Ok(())
}

impl UserAction {
    /// The action can be applied: its time is within bounds and its value a rating only for
    /// `rate`, finite and from 1 to 5.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), String> {
        time("occurred_at", self.occurred_at, now)?;
        match (self.action, self.value) {
            (ActionKind::Rate, Some(value)) if (1.0..=5.0).contains(&value) => Ok(()),
            (ActionKind::Rate, _) => Err("rate needs a value from 1 to 5".into()),
            (_, None) => Ok(()),
            (kind, Some(_)) => Err(format!("{} carries no value", kind.as_str())),
        }
    }
}

impl ProductSnapshot {
    /// Every text field is bounded and free of control characters (except line breaks in the
    /// description), the times within bounds.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), String> {
        label("name", &self.name)?;
        text("description", &self.description)?;
        label("category", &self.category)?;
        labels("tags", &self.tags)?;
        label("price.amount", &self.price.amount)?;
        label("price.currency", &self.price.currency)?;
        time("created_at", self.created_at, now)?;
        time("updated_at", self.updated_at, now)
    }
}

impl UserProfile {
    /// The same for a profile.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), String> {
        label("display_name", &self.display_name)?;
        if let Some(country) = &self.country {
            label("country", country)?;
        }
        labels("interests", &self.interests)?;
        time("created_at", self.created_at, now)?;
        time("updated_at", self.updated_at, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn action(kind: ActionKind, value: Option<f64>, at: DateTime<Utc>) -> UserAction {
        UserAction {
            user_id: Uuid::nil(),
            product_id: Uuid::nil(),
            action: kind,
            value,
            occurred_at: at,
        }
    }

    #[test]
    fn actions_out_of_time_or_with_odd_values_are_refused() {
        let now = Utc::now();
        assert!(action(ActionKind::View, None, now).check(now).is_ok());
        assert!(action(ActionKind::Rate, Some(4.5), now).check(now).is_ok());
        let ancient: DateTime<Utc> = "-5000-01-01T00:00:00Z".parse().unwrap();
        let far: DateTime<Utc> = "9999-01-01T00:00:00Z".parse().unwrap();
        for at in [ancient, far, now + Duration::days(2)] {
            assert!(action(ActionKind::View, None, at).check(now).is_err(), "{at}");
        }
        for value in [None, Some(f64::NAN), Some(f64::INFINITY), Some(0.0), Some(500.0)] {
            assert!(
                action(ActionKind::Rate, value, now).check(now).is_err(),
                "{value:?}"
            );
        }
        assert!(action(ActionKind::Purchase, Some(3.0), now).check(now).is_err());
    }

    #[test]
    fn labels_and_text_refuse_control_characters_and_excess() {
        assert!(label("x", "Lighting").is_ok());
        assert!(label("x", "a\u{0}b").is_err());
        assert!(label("x", "a\nb").is_err());
        assert!(label("x", &"a".repeat(MAX_LABEL + 1)).is_err());
        assert!(text("x", "line one\nline two\ttab").is_ok());
        assert!(text("x", "nul \u{0}").is_err());
        assert!(text("x", "escape \u{1b}[31m").is_err());
        assert!(labels("x", &vec!["a".to_owned(); MAX_LABELS + 1]).is_err());
    }
}
