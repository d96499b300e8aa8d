//! Lists in Redis (cache-aside): written after each flush commit, read first by the API.
use redis::AsyncCommands;
use shared::redis_store::RedisStore;
use uuid::Uuid;

use crate::metrics::RecommenderMetrics;
use crate::recommend::RecommendationList;

/// The user-list cache.
#[derive(Clone)]
pub struct ListCache {
    redis: RedisStore,
    ttl_seconds: u64,
    metrics: RecommenderMetrics,
}

impl ListCache {
    pub fn new(redis: RedisStore, ttl_seconds: u64, metrics: RecommenderMetrics) -> Self {
        Self {
            redis,
            ttl_seconds,
            metrics,
        }
    }

    fn key(&self, user: Uuid) -> String {
        self.redis.key(&format!("recs:{user}"))
    }

    /// The cached list, or `None` on a miss or when Redis fails (counted, never an error).
    pub async fn get(&self, user: Uuid) -> Option<RecommendationList> {
        let mut conn = self.redis.connection();
        match conn.get::<_, Option<Vec<u8>>>(self.key(user)).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(error = %e, "Redis read failed; answering from Postgres");
                None
            }
        }
    }

    /// Stores lists in one pipeline; failures are logged and counted (Postgres has them).
    pub async fn put(&self, lists: &[(Uuid, &RecommendationList)]) {
        if lists.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for (user, list) in lists {
            match serde_json::to_vec(list) {
                Ok(bytes) => {
                    pipe.set_ex(self.key(*user), bytes, self.ttl_seconds).ignore();
                }
                Err(e) => tracing::error!(error = %e, "a list does not serialise"),
            }
        }
        let mut conn = self.redis.connection();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.metrics.cache_errors.inc();
            tracing::warn!(error = %e, "Redis write failed; lists stay in Postgres");
        }
    }

    /// Drops a user's cached list.
    pub async fn invalidate(&self, user: Uuid) {
        let mut conn = self.redis.connection();
        if let Err(e) = conn.del::<_, ()>(self.key(user)).await {
            self.metrics.cache_errors.inc();
            tracing::warn!(error = %e, "Redis delete failed");
        }
    }
}
