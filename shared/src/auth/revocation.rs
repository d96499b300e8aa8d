//! Ended sessions and deleted users, whose access tokens every service refuses. The users
//! service publishes `user_sessions_ended` (logout, password or role change, a reused refresh
//! token) and `user_deleted` on `user_updates`; every instance of every service follows that
//! topic ([`RevocationFeed`]) and refuses the tokens within about a second.
//!
//! Memory stays bounded: an access token lives at most `access_token_ttl_seconds`, so an entry
//! is forgotten that long after it arrived (every token it could refuse has expired by then), and
//! the feed starts that far back in the topic, not at its beginning.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use uuid::Uuid;

use crate::configuration::KafkaSettings;
use crate::events::user::{UserDeleted, UserSessionsEnded};
use crate::events::{event_types, topics};

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

/// Follows `user_updates` into [`Revocations`] on a thread of its own, without a consumer
/// group (partitions are assigned, nothing is committed): every instance reads every event.
pub struct RevocationFeed {
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl RevocationFeed {
    /// Starts at the events of the last `access_token_ttl` (older ones cannot concern a live
    /// token) and follows the topic.
    pub fn start(
        settings: &KafkaSettings,
        revocations: Arc<Revocations>,
        access_token_ttl: Duration,
    ) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = crate::kafka::base_config(settings)
            // Required by librdkafka; never joined (assign) and never committed.
            .set("group.id", format!("{}-revocations", settings.consumer_group))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create()
            .context("Failed to create the revocation consumer")?;
        let topic = settings.topic(topics::USER_UPDATES);
        let caught_up = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let feed = Feed {
            consumer,
            topic,
            revocations,
            since: access_token_ttl + Duration::from_secs(60),
            caught_up: caught_up.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("revocations".into())
            .spawn(move || feed.run())
            .context("Failed to start the revocation feed")?;
        Ok(Self { caught_up, stop })
    }

    /// A `/ready` check: up once the events that existed at start are applied (before that, a
    /// revoked token could still pass).
    pub fn check(&self) -> crate::http::health::OwnCheck {
        let caught_up = self.caught_up.clone();
        Arc::new(move || {
            if caught_up.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err("still reading the recent revocations".into())
            }
        })
    }
}

impl Drop for RevocationFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Feed {
    consumer: BaseConsumer,
    topic: String,
    revocations: Arc<Revocations>,
    since: Duration,
    caught_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Feed {
    fn run(self) {
        // Until assigned (Kafka may be starting too), retry.
        let mut ends = loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match self.assign() {
                Ok(ends) => break ends,
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "revocation feed not assigned yet; retrying");
                    std::thread::sleep(Duration::from_secs(2));
                }
            }
        };
        self.caught_up.store(ends.is_empty(), Ordering::Relaxed);
        while !self.stop.load(Ordering::Relaxed) {
            let Some(message) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "revocation feed error; continuing");
                    continue;
                }
            };
            if let Some(payload) = message.payload() {
                if let Err(e) = self.revocations.apply(payload) {
                    tracing::warn!(error.cause_chain = ?e, offset = message.offset(), "revocation event ignored");
                }
            }
            let partition = message.partition();
            if ends
                .get(&partition)
                .is_some_and(|end| message.offset() + 1 >= *end)
            {
                ends.remove(&partition);
                if ends.is_empty() {
                    self.caught_up.store(true, Ordering::Relaxed);
                    tracing::info!("revocation feed caught up");
                }
            }
        }
    }

    /// Assigns every partition at the first offset of the last `since`; returns each
    /// partition's end offset at that moment (where the feed counts as caught up).
    fn assign(&self) -> anyhow::Result<HashMap<i32, i64>> {
        let timeout = Duration::from_secs(5);
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), timeout)
            .context("no metadata")?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        anyhow::ensure!(
            !partitions.is_empty(),
            "topic {} has no partitions yet",
            self.topic
        );
        let start_ms = (Utc::now() - self.since).timestamp_millis();
        let mut wanted = TopicPartitionList::new();
        for partition in &partitions {
            wanted.add_partition_offset(&self.topic, *partition, Offset::Offset(start_ms))?;
        }
        let starts = self
            .consumer
            .offsets_for_times(wanted, timeout)
            .context("offsets for the start time")?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for element in starts.elements() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, element.partition(), timeout)
                .context("watermarks")?;
            // A partition with nothing since then has no offset for the time: start at its end.
            let start = match element.offset() {
                Offset::Offset(offset) if offset < high => offset,
                _ => high,
            };
            if start < high {
                ends.insert(element.partition(), high);
            }
            assignment.add_partition_offset(&self.topic, element.partition(), Offset::Offset(start))?;
        }
        self.consumer.assign(&assignment).context("assign")?;
        Ok(ends)
    }
}
