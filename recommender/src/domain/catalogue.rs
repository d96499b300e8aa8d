//! What the recommender knows about products (category, active, deleted) and users (interests),
//! from `product_updates` and `user_updates`. Every instance reads those topics in full (not split
//! by the group) into Postgres (`repository::catalogue`) and this in-memory view; writes are
//! guarded by version/time, so replays and reordering change nothing.
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::model::Item;
use crate::repository::catalogue as repo;

/// One product as lists need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductInfo {
    pub category: String,
    pub active: bool,
    pub deleted: bool,
    pub version: i64,
}

#[derive(Debug, Default)]
struct State {
    items: HashMap<Uuid, Item>,
    products: HashMap<Item, Uuid>,
    info: HashMap<Item, ProductInfo>,
    interests: HashMap<Uuid, Vec<String>>,
    /// Grows with every product change (rankings computed from the catalogue compare it).
    version: u64,
}

/// The shared view; cheap to clone.
#[derive(Clone)]
pub struct Catalogue {
    state: Arc<RwLock<State>>,
    db: DatabaseConnection,
}

impl Catalogue {
    /// Loads what earlier runs stored.
    pub async fn load(db: DatabaseConnection) -> anyhow::Result<Self> {
        let stored = repo::load(&db).await?;
        let mut state = State::default();
        for (id, item) in stored.items {
            state.items.insert(id, item);
            state.products.insert(item, id);
        }
        state.info.extend(stored.products);
        state.interests.extend(stored.interests);
        Ok(Self {
            state: Arc::new(RwLock::new(state)),
            db,
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the data is still consistent.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The dense item of each product id, assigning new ones in Postgres (shared by instances).
    pub async fn intern(&self, ids: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Item>> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let state = self.read();
            for id in ids {
                match state.items.get(id) {
                    Some(&item) => {
                        found.insert(*id, item);
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort();
        missing.dedup();
        let interned = repo::intern(&self.db, missing).await?;
        let mut state = self.write();
        for (id, item) in interned {
            state.items.insert(id, item);
            state.products.insert(item, id);
            found.insert(id, item);
        }
        Ok(found)
    }

    /// The product id of an item.
    pub fn product(&self, item: Item) -> Option<Uuid> {
        self.read().products.get(&item).copied()
    }

    /// The item of a product id, if known.
    pub fn item(&self, product: Uuid) -> Option<Item> {
        self.read().items.get(&product).copied()
    }

    /// Only products the catalogue announced, active and not deleted, are recommended.
    pub fn recommendable(&self, item: Item) -> bool {
        self.read()
            .info
            .get(&item)
            .is_some_and(|p| p.active && !p.deleted)
    }

    /// A snapshot of `(item, category)` for recommendable items (one lock for many checks).
    pub fn recommendable_items(&self) -> HashMap<Item, String> {
        let state = self.read();
        state
            .info
            .iter()
            .filter(|(_, p)| p.active && !p.deleted)
            .map(|(&i, p)| (i, p.category.clone()))
            .collect()
    }

    /// Grows with every change of a product.
    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// The category of an item.
    pub fn category(&self, item: Item) -> Option<String> {
        self.read().info.get(&item).map(|p| p.category.clone())
    }

    /// A user's declared interests.
    pub fn interests(&self, user: Uuid) -> Vec<String> {
        self.read().interests.get(&user).cloned().unwrap_or_default()
    }

    /// Applies a product's state at `version` (created, updated, or deleted); older versions are
    /// ignored. Returns true if it changed what is recommendable.
    pub async fn apply_product(
        &self,
        product: Uuid,
        version: i64,
        info: Option<(String, bool)>,
    ) -> anyhow::Result<bool> {
        let item = self.intern(&[product]).await?[&product];
        let (category, active, deleted) = match &info {
            Some((category, active)) => (category.clone(), *active, false),
            None => (String::new(), false, true),
        };
        let stored = ProductInfo {
            category: category.clone(),
            active,
            deleted,
            version,
        };
        if !repo::store_product(&self.db, product, &stored).await? {
            return Ok(false);
        }
        let mut state = self.write();
        state.version += 1;
        let before = state.info.get(&item).is_some_and(|p| p.active && !p.deleted);
        let entry = state.info.entry(item).or_insert(ProductInfo {
            category: category.clone(),
            active,
            deleted,
            version,
        });
        if !deleted {
            entry.category = category;
        }
        entry.active = active;
        entry.deleted = deleted;
        entry.version = version;
        Ok(before != (active && !deleted))
    }

    /// Stores a user's interests as of `updated_at` (older updates are ignored); whether the
    /// interests changed (an unknown user counts as one without interests).
    pub async fn apply_user(
        &self,
        user: Uuid,
        interests: Vec<String>,
        updated_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        if !repo::store_interests(&self.db, user, &interests, updated_at).await? {
            return Ok(false);
        }
        let before = self.write().interests.insert(user, interests.clone());
        Ok(before.unwrap_or_default() != interests)
    }

    /// Forgets a deleted user: profile, model sequence and list.
    pub async fn delete_user(&self, user: Uuid) -> anyhow::Result<()> {
        repo::delete_user(&self.db, user).await?;
        self.write().interests.remove(&user);
        Ok(())
    }
}
