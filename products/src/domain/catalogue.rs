//! Catalogue writes: each parsed, version-checked where asked, committed together with its
//! event (outbox), and forgotten by the read cache.
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::http::problem::FieldError;
use shared::outbox::OutboxHandle;
use uuid::Uuid;

use super::requests::{CreateProduct, UpdateProduct};
use crate::entity::products::Model;
use crate::repository::cached::ProductCache;
use crate::repository::products::{self as repo, Outcome};

/// Why a product was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a product was not changed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the product was changed meanwhile; its current version is {current}")]
    Stale { current: i64 },
    #[error("no such product")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a product was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error("the product was changed meanwhile; its current version is {current}")]
    Stale { current: i64 },
    #[error("no such product")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The version a change is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Refused (stale) if the product has another version now.
    Version(i64),
    /// Whatever version is current (`If-Match: *`).
    Current,
}

/// The catalogue's writes; one per service.
pub struct Catalogue {
    db: DatabaseConnection,
    outbox: OutboxHandle,
    cache: Arc<ProductCache>,
}

impl Catalogue {
    pub fn new(db: DatabaseConnection, outbox: OutboxHandle, cache: Arc<ProductCache>) -> Self {
        Self { db, outbox, cache }
    }

    /// Adds a product (its `product_created` event in the same transaction).
    pub async fn create(&self, request: CreateProduct) -> Result<Model, CreateError> {
        let new = request.parse().map_err(CreateError::Invalid)?;
        let model = repo::insert(&self.db, new).await?;
        self.outbox.wake();
        Ok(model)
    }

    /// Changes a product if it still has the `expected` version.
    pub async fn update(
        &self,
        id: Uuid,
        expected: Expected,
        request: UpdateProduct,
    ) -> Result<Model, UpdateError> {
        let changes = request.parse().map_err(UpdateError::Invalid)?;
        let expected = match expected {
            Expected::Version(version) => version,
            Expected::Current => {
                repo::find(&self.db, id)
                    .await?
                    .ok_or(UpdateError::NotFound)?
                    .version
            }
        };
        match repo::update(&self.db, id, expected, changes).await? {
            Outcome::Done(model) => {
                self.written(id);
                Ok(model)
            }
            Outcome::Stale { current } => Err(UpdateError::Stale { current }),
            Outcome::NotFound => Err(UpdateError::NotFound),
        }
    }

    /// Deletes a product (if it still has the `expected` version, when given).
    pub async fn delete(&self, id: Uuid, expected: Expected) -> Result<(), DeleteError> {
        let version = match expected {
            Expected::Version(version) => Some(version),
            Expected::Current => None,
        };
        match repo::delete(&self.db, id, version).await? {
            Outcome::Done(()) => {
                self.written(id);
                Ok(())
            }
            Outcome::Stale { current } => Err(DeleteError::Stale { current }),
            Outcome::NotFound => Err(DeleteError::NotFound),
        }
    }

    /// After a committed write: the cache forgets the product, the relay publishes its event.
    fn written(&self, id: Uuid) {
        self.cache.forget(id);
        self.outbox.wake();
    }
}
