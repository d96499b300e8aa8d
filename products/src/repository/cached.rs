//! A read-through cache of single products, kept as the bytes of their JSON answer: a product
//! page is read far more often than it changes, and the query plus serialisation were most of
//! the cost of `GET /products/{id}` (docs/benchmarks.md, issue 15).
//!
//! Writes through this instance forget the product at once; writes through another replica when
//! their event arrives on `product_updates` (`startup::forget_changed_products`), and at the
//! latest after `ttl` (`products.read_cache_ttl_ms`). Version-checked writes never rely on the
//! cache, so a stale read can at worst lead to a 412, never to a lost update.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::products::{find, snapshot};

/// One product as answered: its version (the ETag) and its JSON.
#[derive(Debug)]
pub struct CachedProduct {
    pub version: i64,
    pub body: Bytes,
    fetched: Instant,
}

/// Bounded, expiring, shared by the HTTP workers.
pub struct ProductCache {
    entries: quick_cache::sync::Cache<Uuid, Arc<CachedProduct>>,
    ttl: Duration,
    /// Bumped by every local write: a read that raced with a write does not store what it read
    /// (it may have read the row before the write committed).
    writes: AtomicU64,
    hits: IntCounter,
    misses: IntCounter,
}

impl ProductCache {
    /// At most `capacity` products, each served for at most `ttl`; `ttl` zero turns it off.
    pub fn new(capacity: usize, ttl: Duration, registry: &Registry) -> prometheus::Result<Self> {
        let reads = shared::metrics::register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "product_reads_total",
                    "Single-product reads by where the answer came from",
                ),
                &["source"],
            )?,
        )?;
        Ok(Self {
            entries: quick_cache::sync::Cache::new(capacity.max(1)),
            ttl,
            writes: AtomicU64::new(0),
            hits: reads.with_label_values(&["memory"]),
            misses: reads.with_label_values(&["database"]),
        })
    }

    /// The product, from memory while fresh, else from the database (then remembered).
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        id: Uuid,
    ) -> anyhow::Result<Option<Arc<CachedProduct>>> {
        if let Some(hit) = self.entries.get(&id) {
            if hit.fetched.elapsed() < self.ttl {
                self.hits.inc();
                return Ok(Some(hit));
            }
        }
        self.misses.inc();
        let writes = self.writes.load(Ordering::Acquire);
        let Some(model) = find(db, id).await? else {
            // Unknown ids are not remembered: they would let anyone fill the cache.
            return Ok(None);
        };
        let product = Arc::new(CachedProduct {
            version: model.version,
            body: Bytes::from(serde_json::to_vec(&snapshot(&model))?),
            fetched: Instant::now(),
        });
        if !self.ttl.is_zero() && self.writes.load(Ordering::Acquire) == writes {
            self.entries.insert(id, product.clone());
        }
        Ok(Some(product))
    }

    /// Forgets `id`; called after a write to it has committed.
    pub fn forget(&self, id: Uuid) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(&id);
    }
}
