//! Cache-aside for API answers. Keys include a generation number that every committed flush
//! increments, so a flush invalidates every cached answer at once (old keys expire by TTL).
//! Redis failing only means answers come from Postgres.
use redis::AsyncCommands;
use serde_json::Value;
use shared::redis_store::RedisStore;

/// The answer cache.
#[derive(Clone)]
pub struct AnswerCache {
    redis: RedisStore,
    ttl_seconds: u64,
}

impl AnswerCache {
    pub fn new(redis: RedisStore, ttl_seconds: u64) -> Self {
        Self { redis, ttl_seconds }
    }

    async fn key(&self, request: &str) -> Option<String> {
        let mut conn = self.redis.connection();
        let generation: Option<u64> = conn.get(self.redis.key("generation")).await.ok()?;
        Some(
            self.redis
                .key(&format!("answer:{}:{request}", generation.unwrap_or(0))),
        )
    }

    /// The cached answer to `request` (path and query), if any.
    pub async fn get(&self, request: &str) -> Option<Value> {
        let key = self.key(request).await?;
        let mut conn = self.redis.connection();
        let bytes: Option<Vec<u8>> = conn.get(key).await.ok()?;
        serde_json::from_slice(&bytes?).ok()
    }

    /// Stores an answer (best effort).
    pub async fn put(&self, request: &str, answer: &Value) {
        let Some(key) = self.key(request).await else {
            return;
        };
        let mut conn = self.redis.connection();
        if let Ok(bytes) = serde_json::to_vec(answer) {
            if let Err(e) = conn.set_ex::<_, _, ()>(key, bytes, self.ttl_seconds).await {
                tracing::debug!(error = %e, "answer not cached");
            }
        }
    }

    /// Invalidates every cached answer (after a flush committed).
    pub async fn invalidate_all(&self) {
        let mut conn = self.redis.connection();
        if let Err(e) = conn.incr::<_, _, ()>(self.redis.key("generation"), 1).await {
            // Cached answers then live until their TTL: logged, since they may be stale.
            tracing::warn!(error = %e, "cache generation not bumped");
        }
    }
}
