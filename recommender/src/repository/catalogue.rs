//! The catalogue view in Postgres: product ids and their dense items (shared by instances),
//! products' recommendability and users' interests. Writes are guarded by version or time, so
//! replays and reordering change nothing.
use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use super::statement;
use crate::domain::catalogue::ProductInfo;
use crate::model::Item;

/// Everything stored, as loaded at start-up.
#[derive(Debug, Default)]
pub struct Stored {
    pub items: Vec<(Uuid, Item)>,
    pub products: Vec<(Item, ProductInfo)>,
    pub interests: Vec<(Uuid, Vec<String>)>,
}

/// Reads what earlier runs stored.
pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Stored> {
    let mut stored = Stored::default();
    for row in db
        .query_all(statement("SELECT product_id, item FROM product_items", vec![]))
        .await?
    {
        let (id, item): (Uuid, i32) = (row.try_get("", "product_id")?, row.try_get("", "item")?);
        stored.items.push((id, item as Item));
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
        stored.products.push((item as Item, info));
    }
    for row in db
        .query_all(statement("SELECT user_id, interests FROM user_profiles", vec![]))
        .await?
    {
        stored
            .interests
            .push((row.try_get("", "user_id")?, row.try_get("", "interests")?));
    }
    Ok(stored)
}

/// The items of `missing` product ids (sorted, distinct), assigning new ones.
pub async fn intern(db: &DatabaseConnection, missing: Vec<Uuid>) -> anyhow::Result<Vec<(Uuid, Item)>> {
    // Two statements: a data-modifying CTE's rows are invisible to its own SELECT.
    let insert = "INSERT INTO product_items (product_id) SELECT unnest($1::uuid[]) ON CONFLICT (product_id) DO NOTHING";
    db.execute(statement(insert, vec![missing.clone().into()]))
        .await
        .context("Failed to intern products")?;
    let select = "SELECT product_id, item FROM product_items WHERE product_id = ANY($1)";
    let rows = db
        .query_all(statement(select, vec![missing.into()]))
        .await
        .context("Failed to read items")?;
    rows.iter()
        .map(|row| {
            let (id, item): (Uuid, i32) = (row.try_get("", "product_id")?, row.try_get("", "item")?);
            Ok((id, item as Item))
        })
        .collect()
}

/// Stores a product's state at `info.version` unless a newer one is stored; whether it was
/// written. A deleted product keeps its last category.
pub async fn store_product(
    db: &DatabaseConnection,
    product: Uuid,
    info: &ProductInfo,
) -> anyhow::Result<bool> {
    let sql =
        "INSERT INTO products (product_id, category, active, deleted, version) VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (product_id) DO UPDATE SET \
                 category = CASE WHEN EXCLUDED.deleted THEN products.category ELSE EXCLUDED.category END, \
                 active = EXCLUDED.active, deleted = EXCLUDED.deleted, version = EXCLUDED.version \
               WHERE products.version < EXCLUDED.version";
    let values = vec![
        product.into(),
        info.category.clone().into(),
        info.active.into(),
        info.deleted.into(),
        info.version.into(),
    ];
    let written = db
        .execute(statement(sql, values))
        .await
        .context("Failed to store the product")?;
    Ok(written.rows_affected() > 0)
}

/// Stores a user's interests as of `updated_at` unless newer ones are stored; whether written.
pub async fn store_interests(
    db: &DatabaseConnection,
    user: Uuid,
    interests: &[String],
    updated_at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let sql = "INSERT INTO user_profiles (user_id, interests, updated_at) VALUES ($1, $2, $3) \
               ON CONFLICT (user_id) DO UPDATE SET interests = EXCLUDED.interests, updated_at = EXCLUDED.updated_at \
               WHERE user_profiles.updated_at <= EXCLUDED.updated_at";
    let values = vec![user.into(), interests.to_vec().into(), updated_at.into()];
    let written = db
        .execute(statement(sql, values))
        .await
        .context("Failed to store the profile")?;
    Ok(written.rows_affected() > 0)
}

/// Deletes what is kept of a user: profile, model sequence and list.
pub async fn delete_user(db: &DatabaseConnection, user: Uuid) -> anyhow::Result<()> {
    for table in ["user_profiles", "user_sequences", "recommendations"] {
        let sql = format!("DELETE FROM {table} WHERE user_id = $1");
        db.execute(statement(&sql, vec![user.into()]))
            .await
            .with_context(|| format!("Failed to clear {table}"))?;
    }
    Ok(())
}
