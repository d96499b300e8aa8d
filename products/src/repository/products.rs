//! Queries and transactional, version-checked mutations of products.
use anyhow::Context;
use chrono::Utc;
use sea_orm::sea_query::{Expr, PgFunc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use shared::events::product::{Price, ProductDeleted, ProductSnapshot};
use shared::events::{event_types, topics, Envelope};
use shared::outbox;
use uuid::Uuid;

use crate::domain::requests::{Changes, NewProduct};
use crate::entity::products::{ActiveModel, Column, Entity as Products, Model};

/// The result of a version-checked write.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// The product exists with another version than the one expected.
    Stale {
        current: i64,
    },
    NotFound,
}

/// What product events carry.
pub fn snapshot(model: &Model) -> ProductSnapshot {
    ProductSnapshot {
        id: model.id,
        name: model.name.clone(),
        description: model.description.clone(),
        category: model.category.clone(),
        tags: model.tags.clone(),
        price: Price {
            amount: model.price_amount.to_string(),
            currency: model.price_currency.clone(),
        },
        stock: model.stock,
        active: model.active,
        attributes: model.attributes.clone(),
        version: model.version,
        created_at: model.created_at.to_utc(),
        updated_at: model.updated_at.to_utc(),
    }
}

fn snapshot_event(event_type: &str, model: &Model) -> Envelope<ProductSnapshot> {
    let mut event = Envelope::new(event_type, model.id.to_string(), snapshot(model));
    event.occurred_at = model.updated_at.to_utc();
    event
}

/// Creates the product (version 1) and its `product_created` event in one transaction.
#[tracing::instrument(skip_all)]
pub async fn insert(db: &DatabaseConnection, new: NewProduct) -> anyhow::Result<Model> {
    let now = Utc::now().fixed_offset();
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    let model = ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        description: Set(new.description),
        category: Set(new.category),
        tags: Set(new.tags),
        price_amount: Set(new.price_amount),
        price_currency: Set(new.price_currency),
        stock: Set(new.stock),
        active: Set(new.active),
        attributes: Set(new.attributes),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .context("Failed to insert the product")?;
    outbox::enqueue(
        &txn,
        topics::PRODUCT_UPDATES,
        &snapshot_event(event_types::PRODUCT_CREATED, &model),
    )
    .await?;
    txn.commit().await.context("Failed to commit the product")?;
    Ok(model)
}

/// The product with this id.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> anyhow::Result<Option<Model>> {
    Products::find_by_id(id)
        .one(db)
        .await
        .context("Failed to load the product")
}

/// The products with these ids (any order; absent ids are skipped).
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> anyhow::Result<Vec<Model>> {
    Products::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
        .context("Failed to load products")
}

/// Filters of the product list.
#[derive(Debug, Default)]
pub struct Filter {
    pub category: Option<String>,
    pub tag: Option<String>,
    pub active: Option<bool>,
}

/// Up to `limit` products matching `filter` with ids after `after`, in id order.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    after: Option<Uuid>,
    limit: u64,
) -> anyhow::Result<Vec<Model>> {
    let mut query = Products::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    if let Some(category) = &filter.category {
        query = query.filter(Column::Category.eq(category.as_str()));
    }
    if let Some(tag) = &filter.tag {
        query = query.filter(Expr::eq(
            Expr::val(tag.as_str()),
            Expr::expr(PgFunc::any(Expr::col(Column::Tags))),
        ));
    }
    if let Some(active) = filter.active {
        query = query.filter(Column::Active.eq(active));
    }
    query.all(db).await.context("Failed to list products")
}

/// Applies `changes` if the product is at `expected` version, bumping the version, and writes
/// `product_updated`, all in one transaction.
#[tracing::instrument(skip(db, changes))]
pub async fn update(
    db: &DatabaseConnection,
    id: Uuid,
    expected: i64,
    changes: Changes,
) -> anyhow::Result<Outcome<Model>> {
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    let mut update = Products::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now().fixed_offset()))
        .filter(Column::Id.eq(id))
        .filter(Column::Version.eq(expected));
    if let Some(name) = changes.name {
        update = update.col_expr(Column::Name, Expr::value(name));
    }
    if let Some(description) = changes.description {
        update = update.col_expr(Column::Description, Expr::value(description));
    }
    if let Some(category) = changes.category {
        update = update.col_expr(Column::Category, Expr::value(category));
    }
    if let Some(tags) = changes.tags {
        update = update.col_expr(Column::Tags, Expr::value(tags));
    }
    if let Some((amount, currency)) = changes.price {
        update = update
            .col_expr(Column::PriceAmount, Expr::value(amount))
            .col_expr(Column::PriceCurrency, Expr::value(currency));
    }
    if let Some(stock) = changes.stock {
        update = update.col_expr(Column::Stock, Expr::value(stock));
    }
    if let Some(active) = changes.active {
        update = update.col_expr(Column::Active, Expr::value(active));
    }
    if let Some(attributes) = changes.attributes {
        update = update.col_expr(Column::Attributes, Expr::value(attributes));
    }
    // The version check and the write are one statement: of two writers with the same version,
    // exactly one matches a row.
    let updated = update
        .exec_with_returning(&txn)
        .await
        .context("Failed to update the product")?;
    let Some(model) = updated.into_iter().next() else {
        return current_outcome(&txn, id).await;
    };
    outbox::enqueue(
        &txn,
        topics::PRODUCT_UPDATES,
        &snapshot_event(event_types::PRODUCT_UPDATED, &model),
    )
    .await?;
    txn.commit().await.context("Failed to commit the update")?;
    Ok(Outcome::Done(model))
}

/// Deletes the product (if at `expected` version, when given) and writes `product_deleted`.
#[tracing::instrument(skip(db))]
pub async fn delete(db: &DatabaseConnection, id: Uuid, expected: Option<i64>) -> anyhow::Result<Outcome<()>> {
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    let mut delete = Products::delete_many().filter(Column::Id.eq(id));
    if let Some(expected) = expected {
        delete = delete.filter(Column::Version.eq(expected));
    }
    let deleted = delete
        .exec_with_returning(&txn)
        .await
        .context("Failed to delete the product")?;
    let Some(model) = deleted.into_iter().next() else {
        return current_outcome(&txn, id).await;
    };
    let payload = ProductDeleted {
        id,
        version: model.version + 1,
    };
    let event = Envelope::new(event_types::PRODUCT_DELETED, id.to_string(), payload);
    outbox::enqueue(&txn, topics::PRODUCT_UPDATES, &event).await?;
    txn.commit().await.context("Failed to commit the deletion")?;
    Ok(Outcome::Done(()))
}

/// Why a version-checked write matched nothing: the product is gone, or at another version.
async fn current_outcome<T>(db: &impl ConnectionTrait, id: Uuid) -> anyhow::Result<Outcome<T>> {
    Ok(match find(db, id).await? {
        Some(current) => Outcome::Stale {
            current: current.version,
        },
        None => Outcome::NotFound,
    })
}
