//! What the recommender knows about products (category, active, deleted) and users (interests),
//! from `product_updates` and `user_updates`. Every instance reads those topics in full (not split
//! by the group) into Postgres and this in-memory view; writes are guarded by version/time, so
//! replays and reordering change nothing.
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::model::Item;

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

fn statement(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

impl Catalogue {
    /// Loads what earlier runs stored.
    pub async fn load(db: DatabaseConnection) -> anyhow::Result<Self> {
        let mut state = State::default();
        for row in db
            .query_all(statement("SELECT product_id, item FROM product_items", vec![]))
            .await?
        {
            let (id, item): (Uuid, i32) = (row.try_get("", "product_id")?, row.try_get("", "item")?);
            state.items.insert(id, item as Item);
            state.products.insert(item as Item, id);
        }
        let sql = "SELECT pi.item, p.category, p.active, p.deleted, p.version \
                   FROM products p JOIN product_items pi USING (product_id)";
        for row in db.query_all(statement(sql, vec![])).await? {
            let item: i32 = row.try_get("", "item")?;
            let info = ProductInfo {
                category: row.try_get("", "category")?,
                active: row.try_get("", "active")?,
                deleted: row.try_get("", "deleted")?,
                version: row.try_get("", "version")?,
            };
            state.info.insert(item as Item, info);
        }
        for row in db
            .query_all(statement("SELECT user_id, interests FROM user_profiles", vec![]))
            .await?
        {
            state
                .interests
                .insert(row.try_get("", "user_id")?, row.try_get("", "interests")?);
        }
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
        // Two statements: a data-modifying CTE's rows are invisible to its own SELECT.
        let insert = "INSERT INTO product_items (product_id) SELECT unnest($1::uuid[]) ON CONFLICT (product_id) DO NOTHING";
        self.db
            .execute(statement(insert, vec![missing.clone().into()]))
            .await
            .context("Failed to intern products")?;
        let select = "SELECT product_id, item FROM product_items WHERE product_id = ANY($1)";
        let rows = self
            .db
            .query_all(statement(select, vec![missing.into()]))
            .await
            .context("Failed to read items")?;
        let mut state = self.write();
        for row in rows {
            let (id, item): (Uuid, i32) = (row.try_get("", "product_id")?, row.try_get("", "item")?);
            state.items.insert(id, item as Item);
            state.products.insert(item as Item, id);
            found.insert(id, item as Item);
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
        let sql = "INSERT INTO products (product_id, category, active, deleted, version) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (product_id) DO UPDATE SET \
                     category = CASE WHEN EXCLUDED.deleted THEN products.category ELSE EXCLUDED.category END, \
                     active = EXCLUDED.active, deleted = EXCLUDED.deleted, version = EXCLUDED.version \
                   WHERE products.version < EXCLUDED.version";
        let values = vec![
            product.into(),
            category.clone().into(),
            active.into(),
            deleted.into(),
            version.into(),
        ];
        let written = self
            .db
            .execute(statement(sql, values))
            .await
            .context("Failed to store the product")?;
        if written.rows_affected() == 0 {
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
        let sql = "INSERT INTO user_profiles (user_id, interests, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (user_id) DO UPDATE SET interests = EXCLUDED.interests, updated_at = EXCLUDED.updated_at \
                   WHERE user_profiles.updated_at <= EXCLUDED.updated_at";
        let values = vec![user.into(), interests.clone().into(), updated_at.into()];
        let written = self
            .db
            .execute(statement(sql, values))
            .await
            .context("Failed to store the profile")?;
        if written.rows_affected() == 0 {
            return Ok(false);
        }
        let before = self.write().interests.insert(user, interests.clone());
        Ok(before.unwrap_or_default() != interests)
    }

    /// Forgets a deleted user: profile, model sequence and list.
    pub async fn delete_user(&self, user: Uuid) -> anyhow::Result<()> {
        for table in ["user_profiles", "user_sequences", "recommendations"] {
            let sql = format!("DELETE FROM {table} WHERE user_id = $1");
            self.db
                .execute(statement(&sql, vec![user.into()]))
                .await
                .with_context(|| format!("Failed to clear {table}"))?;
        }
        self.write().interests.remove(&user);
        Ok(())
    }
}
