//! Lists in two cache tiers in front of Postgres: Redis (shared by every instance, written
//! after each flush commit) and, in front of it, an in-process copy of the lists this instance
//! served recently, kept coherent by invalidation messages on a Redis channel.
//!
//! Every change of a list (a flush, a refresh, a deletion) publishes the user ids on the
//! channel; every instance drops its copies of them. An instance uses its in-process tier only
//! while it is subscribed: when the subscription is lost it clears the tier and reads Redis
//! until it is subscribed again, so a missed message can never leave a stale copy behind.
//!
//! In Redis a list is a hash: `v`, the list's version (see [`version`]), and `l`, the list.
//! Every write goes through [`WRITE_IF_NEWER`], so a read that loaded a list from Postgres just
//! before a flush replaced it cannot put its older copy back over the new one; a deleted user's
//! entry is a tombstone (version `~`, no list) that no list outranks.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use quick_cache::sync::Cache;
use redis::AsyncCommands;
use shared::redis_store::RedisStore;
use uuid::Uuid;

use crate::domain::list::RecommendationList;
use crate::metrics::RecommenderMetrics;

/// Writes a list unless the stored one is at least as new. Versions are fixed-width strings,
/// so Lua's string comparison orders them.
const WRITE_IF_NEWER: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if current and current >= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'l', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1";

/// The version of a tombstone: sorts after every list version.
const TOMBSTONE: &str = "~";

/// A list's version in Redis: the sequence version it was built from, then when it was built.
/// The newest computation wins, as in Postgres, where a recomputation never replaces a list
/// built from a later sequence.
fn version(list: &RecommendationList) -> String {
    format!(
        "{:020}:{:020}",
        list.based_on.max(0),
        list.generated_at.timestamp_micros().max(0)
    )
}

/// Where a cached list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Memory,
    Redis,
}

/// The in-process tier.
struct Local {
    lists: Cache<Uuid, Arc<RecommendationList>>,
    /// Bumped by every invalidation: a list read from Redis before a bump may be stale and is
    /// not kept.
    epoch: AtomicU64,
    /// Subscribed to the invalidation channel (else the tier is bypassed).
    live: AtomicBool,
}

impl Local {
    fn forget(&self, users: impl IntoIterator<Item = Uuid>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for user in users {
            self.lists.remove(&user);
        }
    }

    fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.lists.clear();
    }
}

/// Serialised answers of `GET /users/{id}/recommendations` for lists held in process, by user
/// and limit: reading an unchanged list in an unchanged catalogue again is sending the bytes
/// made the first time. An answer is valid only for the very list (the same allocation) and
/// catalogue version it was made from, so a new list or any product change makes it stale.
pub struct Answers {
    answers: Cache<(Uuid, usize), Arc<Answer>>,
}

/// One serialised answer and what it was made from.
struct Answer {
    list: Arc<RecommendationList>,
    catalogue: u64,
    body: actix_web::web::Bytes,
}

impl Answers {
    /// Keeps up to `capacity` answers.
    pub fn new(capacity: usize) -> Self {
        Self {
            answers: Cache::new(capacity.max(1)),
        }
    }

    /// The answer made from `list` at `catalogue` version for this user and limit, if any.
    pub fn get(
        &self,
        user: Uuid,
        limit: usize,
        list: &Arc<RecommendationList>,
        catalogue: u64,
    ) -> Option<actix_web::web::Bytes> {
        let answer = self.answers.get(&(user, limit))?;
        (Arc::ptr_eq(&answer.list, list) && answer.catalogue == catalogue).then(|| answer.body.clone())
    }

    /// Keeps the answer made from `list` at `catalogue` version.
    pub fn insert(
        &self,
        user: Uuid,
        limit: usize,
        list: Arc<RecommendationList>,
        catalogue: u64,
        body: actix_web::web::Bytes,
    ) {
        self.answers.insert(
            (user, limit),
            Arc::new(Answer {
                list,
                catalogue,
                body,
            }),
        );
    }
}

/// The user-list cache.
#[derive(Clone)]
pub struct ListCache {
    redis: RedisStore,
    ttl_seconds: u64,
    metrics: RecommenderMetrics,
    local: Arc<Local>,
}

impl ListCache {
    /// `capacity`: lists kept in process (0 disables the in-process tier).
    pub fn new(redis: RedisStore, ttl_seconds: u64, capacity: usize, metrics: RecommenderMetrics) -> Self {
        Self {
            redis,
            ttl_seconds,
            metrics,
            local: Arc::new(Local {
                lists: Cache::new(capacity.max(1)),
                epoch: AtomicU64::new(0),
                live: AtomicBool::new(false),
            }),
        }
    }

    /// Named `list:` since entries became versioned hashes: the string entries of older
    /// releases, under `recs:`, are never read and expire within the cache lifetime.
    fn key(&self, user: Uuid) -> String {
        self.redis.key(&format!("list:{user}"))
    }

    fn channel(&self) -> String {
        self.redis.key("recs:changed")
    }

    /// The cached list and its tier, or `None` on a miss or when Redis fails (counted, never
    /// an error).
    pub async fn get(&self, user: Uuid) -> Option<(Arc<RecommendationList>, Tier)> {
        let live = self.local.live.load(Ordering::SeqCst);
        if live {
            if let Some(list) = self.local.lists.get(&user) {
                return Some((list, Tier::Memory));
            }
        }
        let epoch = self.local.epoch.load(Ordering::SeqCst);
        let mut conn = self.redis.connection();
        let list: Arc<RecommendationList> =
            match conn.hget::<_, _, Option<Vec<u8>>>(self.key(user), "l").await {
                Ok(Some(bytes)) => Arc::new(serde_json::from_slice(&bytes).ok()?),
                Ok(None) => return None,
                Err(e) => {
                    self.metrics.cache_errors.inc();
                    tracing::warn!(error = %e, "Redis read failed; answering from Postgres");
                    return None;
                }
            };
        self.keep(user, &list, live, epoch);
        Some((list, Tier::Redis))
    }

    /// Keeps `list` in process if no invalidation happened since `epoch` was read.
    fn keep(&self, user: Uuid, list: &Arc<RecommendationList>, live: bool, epoch: u64) {
        if live && self.local.epoch.load(Ordering::SeqCst) == epoch {
            self.local.lists.insert(user, list.clone());
        }
    }

    /// Caches a list read from Postgres (unchanged: nothing to announce). A newer list written
    /// since the read was made stays.
    pub async fn fill(&self, user: Uuid, list: &Arc<RecommendationList>) {
        let epoch = self.local.epoch.load(Ordering::SeqCst);
        let live = self.local.live.load(Ordering::SeqCst);
        self.write(&[(user, list)], false).await;
        self.keep(user, list, live, epoch);
    }

    /// Stores changed lists in one pipeline (each unless Redis has a newer one) and announces
    /// the change to every instance; failures are logged and counted (Postgres has the lists).
    pub async fn put(&self, lists: &[(Uuid, &RecommendationList)]) {
        self.local.forget(lists.iter().map(|(u, _)| *u));
        self.write(lists, true).await;
    }

    async fn write(&self, lists: &[(Uuid, &RecommendationList)], announce: bool) {
        if lists.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (user, list) in lists {
            match serde_json::to_vec(list) {
                Ok(bytes) => {
                    pipe.cmd("EVAL")
                        .arg(WRITE_IF_NEWER)
                        .arg(1)
                        .arg(self.key(*user))
                        .arg(version(list))
                        .arg(bytes)
                        .arg(self.ttl_seconds)
                        .ignore();
                }
                Err(e) => tracing::error!(error = %e, "a list does not serialise"),
            }
        }
        if announce {
            pipe.publish(self.channel(), announcement(lists.iter().map(|(u, _)| *u)))
                .ignore();
        }
        let mut conn = self.redis.connection();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.metrics.cache_errors.inc();
            tracing::warn!(error = %e, "Redis write failed; lists stay in Postgres");
        }
    }

    /// Drops a deleted user's cached list everywhere; the tombstone left in Redis keeps a read
    /// that loaded the list before the deletion from caching it again.
    pub async fn forget_user(&self, user: Uuid) {
        self.local.forget([user]);
        let key = self.key(user);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&key)
            .ignore()
            .hset(&key, "v", TOMBSTONE)
            .ignore()
            .expire(&key, self.ttl_seconds as i64)
            .ignore()
            .publish(self.channel(), announcement([user]))
            .ignore();
        let mut conn = self.redis.connection();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.metrics.cache_errors.inc();
            tracing::warn!(error = %e, "Redis delete failed");
        }
    }

    /// Listens to the invalidation channel for as long as the process runs, (re)subscribing
    /// after any loss; the in-process tier is used only while subscribed.
    pub fn start_listener(&self) {
        let cache = self.clone();
        actix_web::rt::spawn(async move {
            loop {
                if let Err(e) = cache.listen().await {
                    tracing::warn!(error = %e, "List invalidation channel lost; in-process lists off");
                }
                cache.local.live.store(false, Ordering::SeqCst);
                cache.local.clear();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen(&self) -> anyhow::Result<()> {
        let mut pubsub = self.redis.client().get_async_pubsub().await?;
        pubsub.subscribe(self.channel()).await?;
        // Anything announced before the subscription was missed: start empty.
        self.local.clear();
        self.local.live.store(true, Ordering::SeqCst);
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let payload: String = message.get_payload()?;
            self.local
                .forget(payload.split(',').filter_map(|id| id.parse().ok()));
        }
        anyhow::bail!("the subscription ended")
    }
}

/// The message announcing changed lists: comma-separated user ids.
fn announcement(users: impl IntoIterator<Item = Uuid>) -> String {
    users
        .into_iter()
        .map(|u| u.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Answers computed from Postgres that many requests share (the cold-start list of a set of
/// interests, the neighbours of a product), kept in process for a short time: they change only
/// when a flush commits, so keeping them for one flush interval adds at most that much delay.
pub struct Recent<K, V> {
    entries: Cache<K, (std::time::Instant, Arc<V>)>,
    ttl: Duration,
}

impl<K: Eq + std::hash::Hash + Clone, V> Recent<K, V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Cache::new(capacity.max(1)),
            ttl,
        }
    }

    /// The value if it was computed less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value)
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        self.entries.insert(key, (std::time::Instant::now(), value));
    }
}
