//! Ended sessions and deleted users, whose access tokens every service refuses. The users
//! service publishes `user_sessions_ended` (logout, password or role change, a reused refresh
//! token) and `user_deleted` on `user_updates`; every instance of every service follows that
//! topic ([`RevocationFeed`]) and refuses the tokens within about a second.
//!
//! Memory stays bounded: an access token lives at most `access_token_ttl_seconds`, so an entry
//! is forgotten that long after it arrived (every token it could refuse has expired by then), and
//! the feed starts that far back in the topic, not at its beginning.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use crate::configuration::KafkaSettings;
use crate::events::user::{UserDeleted, UserSessionsEnded};
use crate::events::{event_types, topics};
use crate::kafka::feed::TopicFeed;

/// What is revoked, each entry with the time (unix seconds) after which it is forgotten.
#[derive(Default)]
struct Revoked {
    sessions: HashMap<Uuid, i64>,
    users: HashMap<Uuid, i64>,
}

/// The revocations this instance knows of.
pub struct Revocations {
    revoked: RwLock<Revoked>,
    /// How long an entry is kept: the longest an access token lives, plus clock leeway.
    keep_seconds: i64,
}

impl Revocations {
    /// Entries are kept `access_token_ttl` (plus a minute of clock leeway).
    pub fn new(access_token_ttl: Duration) -> Self {
        Self {
            revoked: RwLock::default(),
            keep_seconds: access_token_ttl.as_secs() as i64 + 60,
        }
    }

    /// Refuses the tokens of these sessions from now on.
    pub fn end_sessions(&self, sessions: &[Uuid]) {
        let until = Utc::now().timestamp() + self.keep_seconds;
        let mut revoked = self.write();
        revoked.prune();
        revoked.sessions.extend(sessions.iter().map(|s| (*s, until)));
    }

    /// Refuses every token of this (deleted) user from now on.
    pub fn delete_user(&self, user: Uuid) {
        let until = Utc::now().timestamp() + self.keep_seconds;
        let mut revoked = self.write();
        revoked.prune();
        revoked.users.insert(user, until);
    }

    /// True when a token of `user` in `session` must be refused.
    pub fn is_revoked(&self, user: Uuid, session: Uuid) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        revoked.sessions.contains_key(&session) || revoked.users.contains_key(&user)
    }

    /// True when `user` was deleted within the memory of this instance (see
    /// [`Revocations::memory`]).
    pub fn is_user_deleted(&self, user: Uuid) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        revoked.users.contains_key(&user)
    }

    /// How long a revocation is remembered after it arrives: the longest an access token lives
    /// plus a minute of clock leeway.
    pub fn memory(&self) -> Duration {
        Duration::from_secs(self.keep_seconds.max(0) as u64)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Revoked> {
        self.revoked.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one `user_updates` message (other event types are ignored).
    fn apply(&self, message: &[u8]) -> anyhow::Result<()> {
        let event = crate::events::decode(Some(message))?;
        match event.event_type.as_str() {
            event_types::USER_SESSIONS_ENDED => {
                let ended: UserSessionsEnded = event.payload_as()?;
                self.end_sessions(&ended.session_ids);
            }
            event_types::USER_DELETED => {
                let deleted: UserDeleted = event.payload_as()?;
                self.delete_user(deleted.id);
            }
            _ => {}
        }
        Ok(())
    }
}

impl Revoked {
    fn prune(&mut self) {
        let now = Utc::now().timestamp();
        self.sessions.retain(|_, until| *until > now);
        self.users.retain(|_, until| *until > now);
    }
}

/// Follows `user_updates` into [`Revocations`] (a [`TopicFeed`]: every instance reads every
/// event).
pub struct RevocationFeed(TopicFeed);

impl RevocationFeed {
    /// Starts at the events of the last `access_token_ttl` (older ones cannot concern a live
    /// token) and follows the topic.
    pub fn start(
        settings: &KafkaSettings,
        revocations: Arc<Revocations>,
        access_token_ttl: Duration,
    ) -> anyhow::Result<Self> {
        TopicFeed::start(
            settings,
            topics::USER_UPDATES,
            "revocations",
            access_token_ttl + Duration::from_secs(60),
            move |payload| revocations.apply(payload),
        )
        .map(Self)
    }

    /// A `/ready` check: up once the events that existed at start are applied (before that, a
    /// revoked token could still pass).
    pub fn check(&self) -> crate::http::health::OwnCheck {
        self.0.check("still reading the recent revocations")
    }
}
