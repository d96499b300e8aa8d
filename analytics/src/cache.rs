//! Cache-aside for API answers. Keys include a generation number that every committed flush
//! increments, so a flush invalidates every cached answer at once (old keys expire by TTL).
//! Redis failing only means answers come from Postgres.
//!
//! A cached read is one Redis GET of bytes ready to send: the generation is held in memory
//! (re-read at most every [`GENERATION_REFRESH`], so another replica's flush is seen that late at
//! most; this replica's own flush at once) and answers are stored already marked
//! `"source": "cache"` (no parse and re-serialisation per read; issue 15).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use redis::AsyncCommands;
use serde_json::{json, Value};
use shared::redis_store::RedisStore;

/// The longest another replica's flush goes unseen by this one's cache.
pub const GENERATION_REFRESH: Duration = Duration::from_millis(100);

/// The answer cache.
#[derive(Clone)]
pub struct AnswerCache {
    redis: RedisStore,
    ttl_seconds: u64,
    generation: Arc<Generation>,
}

/// The flush generation as last read, and when (milliseconds since `started`, 0 = never).
struct Generation {
    value: AtomicU64,
    read_at_ms: AtomicU64,
    started: Instant,
}

impl AnswerCache {
    pub fn new(redis: RedisStore, ttl_seconds: u64) -> Self {
        Self {
            redis,
            ttl_seconds,
            generation: Arc::new(Generation {
                value: AtomicU64::new(0),
                read_at_ms: AtomicU64::new(0),
                started: Instant::now(),
            }),
        }
    }

    /// The current generation: from memory, re-read from Redis by one caller once it is older
    /// than [`GENERATION_REFRESH`]; `None` when it was never read (Redis unreachable so far).
    async fn generation(&self) -> Option<u64> {
        let g = &self.generation;
        let now_ms = (g.started.elapsed().as_millis() as u64).max(1);
        let read_at = g.read_at_ms.load(Ordering::Acquire);
        let due = read_at == 0 || now_ms.saturating_sub(read_at) >= GENERATION_REFRESH.as_millis() as u64;
        // One caller refreshes; the others go on with the value held.
        if due
            && g.read_at_ms
                .compare_exchange(read_at, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let mut conn = self.redis.connection();
            match conn.get::<_, Option<u64>>(self.redis.key("generation")).await {
                // Redis is the truth, even when it went back (its data lost): a refresh that
                // raced with this replica's own flush is corrected by the next one.
                Ok(value) => g.value.store(value.unwrap_or(0), Ordering::Release),
                Err(e) => {
                    tracing::debug!(error = %e, "cache generation not read");
                    // Never read: no key can be built yet; retry on the next call.
                    if read_at == 0 {
                        g.read_at_ms.store(0, Ordering::Release);
                        return None;
                    }
                }
            }
        } else if read_at == 0 {
            return None;
        }
        Some(g.value.load(Ordering::Acquire))
    }

    async fn key(&self, request: &str) -> Option<String> {
        let generation = self.generation().await?;
        Some(self.redis.key(&format!("answer:{generation}:{request}")))
    }

    /// The cached answer to `request` (path and query), if any, as the JSON to send.
    pub async fn get(&self, request: &str) -> Option<Bytes> {
        let key = self.key(request).await?;
        let mut conn = self.redis.connection();
        let bytes: Option<Vec<u8>> = conn.get(key).await.ok()?;
        bytes.map(Bytes::from)
    }

    /// Stores an answer (best effort), marked as coming from the cache.
    pub async fn put(&self, request: &str, answer: &Value) {
        let Some(key) = self.key(request).await else {
            return;
        };
        let mut cached = answer.clone();
        cached["source"] = json!("cache");
        let mut conn = self.redis.connection();
        if let Ok(bytes) = serde_json::to_vec(&cached) {
            if let Err(e) = conn.set_ex::<_, _, ()>(key, bytes, self.ttl_seconds).await {
                tracing::debug!(error = %e, "answer not cached");
            }
        }
    }

    /// Invalidates every cached answer (after a flush committed).
    pub async fn invalidate_all(&self) {
        let mut conn = self.redis.connection();
        match conn.incr::<_, _, u64>(self.redis.key("generation"), 1).await {
            // This replica's own reads see the new generation at once.
            Ok(generation) => {
                self.generation.value.fetch_max(generation, Ordering::AcqRel);
            }
            // Cached answers then live until their TTL: logged, since they may be stale.
            Err(e) => tracing::warn!(error = %e, "cache generation not bumped"),
        }
    }
}
