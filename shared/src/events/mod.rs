//! The wire format of every event on every topic: one versioned JSON envelope.
//!
//! Producers fill `payload` with a typed struct; consumers first decode `Envelope<Value>` (so an
//! unknown payload shape is still routable and dead-letterable) and then the payload they expect.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod action;
pub mod checks;
pub mod product;
pub mod user;

/// Event type names (`Envelope::event_type`).
pub mod event_types {
    /// `user_updates`: a new account; payload [`super::user::UserProfile`].
    pub const USER_REGISTERED: &str = "user_registered";
    /// `user_updates`: a profile change; payload [`super::user::UserProfile`] (the new state).
    pub const USER_UPDATED: &str = "user_updated";
    /// `user_updates`: an account deleted; payload [`super::user::UserDeleted`].
    pub const USER_DELETED: &str = "user_deleted";
    /// Payload [`crate::events::user::UserSessionsEnded`]: tokens of these sessions are refused.
    pub const USER_SESSIONS_ENDED: &str = "user_sessions_ended";
    /// `product_updates`: a new product; payload [`super::product::ProductSnapshot`].
    pub const PRODUCT_CREATED: &str = "product_created";
    /// `product_updates`: a change; payload [`super::product::ProductSnapshot`] (the new state).
    pub const PRODUCT_UPDATED: &str = "product_updated";
    /// `product_updates`: a product removed; payload [`super::product::ProductDeleted`].
    pub const PRODUCT_DELETED: &str = "product_deleted";
    /// `user_actions`: one thing a user did; payload [`super::action::UserAction`].
    pub const USER_ACTION: &str = "user_action";
}

/// Topic names, without the per-deployment prefix (see `KafkaSettings::topic`).
pub mod topics {
    /// Registrations, profile changes and deletions; keyed by user id.
    pub const USER_UPDATES: &str = "user_updates";
    /// Catalogue changes; keyed by product id.
    pub const PRODUCT_UPDATES: &str = "product_updates";
    /// What users do (view, click, add_to_cart, purchase, rate); keyed by user id.
    pub const USER_ACTIONS: &str = "user_actions";
    /// Every topic of the system, in a stable order.
    pub const ALL: [&str; 3] = [USER_UPDATES, PRODUCT_UPDATES, USER_ACTIONS];

    /// The dead-letter topic that receives the undecodable messages of `topic`.
    pub fn dead_letter(topic: &str) -> String {
        format!("{topic}.dlq")
    }
}

/// The schema version producers of this build write.
pub const SCHEMA_VERSION: u16 = 1;

/// One event as it travels on Kafka. Consumers ignore fields they do not know, so adding a field
/// is a compatible change; changing a field's meaning bumps `schema_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = serde_json::Value> {
    /// Unique per event; the same id is kept across retries, so consumers deduplicate on it.
    pub event_id: Uuid,
    /// What happened, e.g. `user_registered` (snake_case, past tense).
    pub event_type: String,
    /// Version of the payload schema for this `event_type`.
    pub schema_version: u16,
    /// When the change happened at the source (not when it was published).
    pub occurred_at: DateTime<Utc>,
    /// Id of the entity the event is about; also the Kafka message key (ordering per entity).
    pub key: String,
    /// The event's data.
    pub payload: P,
}

impl<P> Envelope<P> {
    /// A new event with a fresh time-ordered id, occurring now.
    pub fn new(event_type: impl Into<String>, key: impl Into<String>, payload: P) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: SCHEMA_VERSION,
            occurred_at: Utc::now(),
            key: key.into(),
            payload,
        }
    }
}

impl Envelope<serde_json::Value> {
    /// Decodes the payload into the type the consumer expects for this event type.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.payload)
    }
}

/// Why bytes read from Kafka are not an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A message without a value (e.g. a tombstone): nothing to decode.
    #[error("message has no payload")]
    Empty,
    /// Not JSON, or JSON without the envelope's fields.
    #[error("payload is not a valid event envelope: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// Decodes the value of a Kafka message into an envelope with an untyped payload.
pub fn decode(bytes: Option<&[u8]>) -> Result<Envelope, DecodeError> {
    decode_as(bytes)
}

/// Decodes an envelope and its payload as `P` in one pass (no intermediate JSON value): the
/// payload of the wrong shape is an invalid message like a malformed envelope.
pub fn decode_as<P: serde::de::DeserializeOwned>(bytes: Option<&[u8]>) -> Result<Envelope<P>, DecodeError> {
    let bytes = bytes.filter(|b| !b.is_empty()).ok_or(DecodeError::Empty)?;
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    #[test]
    fn envelope_serialises_with_the_documented_field_names() {
        let event = Envelope {
            event_id: Uuid::nil(),
            event_type: "user_registered".into(),
            schema_version: 1,
            occurred_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            key: "42".into(),
            payload: json!({"a": 1}),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({
                "event_id": "00000000-0000-0000-0000-000000000000",
                "event_type": "user_registered",
                "schema_version": 1,
                "occurred_at": "2026-01-02T03:04:05Z",
                "key": "42",
                "payload": {"a": 1}
            })
        );
    }

    #[test]
    fn decode_ignores_unknown_fields() {
        let raw = br#"{"event_id":"00000000-0000-0000-0000-000000000000","event_type":"x",
            "schema_version":2,"occurred_at":"2026-01-02T03:04:05Z","key":"k","payload":null,
            "added_later":true}"#;
        let event = decode(Some(raw)).unwrap();
        assert_eq!(event.schema_version, 2);
        assert_eq!(event.payload, Value::Null);
    }

    #[test]
    fn decode_rejects_empty_and_malformed_messages() {
        assert!(matches!(decode(None), Err(DecodeError::Empty)));
        assert!(matches!(decode(Some(b"")), Err(DecodeError::Empty)));
        assert!(matches!(decode(Some(b"{not json")), Err(DecodeError::Invalid(_))));
        assert!(matches!(
            decode(Some(br#"{"key":"1"}"#)),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn dead_letter_topic_appends_dlq() {
        assert_eq!(topics::dead_letter(topics::USER_ACTIONS), "user_actions.dlq");
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn envelope() -> impl Strategy<Value = Envelope> {
        (
            any::<u128>(),
            "[a-z_]{1,30}",
            any::<u16>(),
            // Any instant between 1970 and 2100, with nanoseconds.
            (0i64..4_102_444_800, 0u32..1_000_000_000),
            ".{0,40}",
            json_value(),
        )
            .prop_map(
                |(id, event_type, version, (secs, nanos), key, payload)| Envelope {
                    event_id: Uuid::from_u128(id),
                    event_type,
                    schema_version: version,
                    occurred_at: Utc.timestamp_opt(secs, nanos).unwrap(),
                    key,
                    payload,
                },
            )
    }

    proptest! {
        #[test]
        fn any_envelope_round_trips_through_json(event in envelope()) {
            let bytes = serde_json::to_vec(&event).unwrap();
            prop_assert_eq!(decode(Some(&bytes)).unwrap(), event);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(Some(&bytes));
        }
    }
}
