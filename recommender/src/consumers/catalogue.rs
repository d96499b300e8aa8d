//! Applies `product_updates` and `user_updates` to the catalogue view, and refreshes the lists a
//! change affects. Idempotent: versions (products) and `updated_at` (profiles) guard every write.
use actix::prelude::*;
use chrono::Utc;
use shared::events::event_types;
use shared::events::product::{ProductDeleted, ProductSnapshot};
use shared::events::user::{UserDeleted, UserProfile};
use shared::kafka::consumer::{ConsumedEvent, HandleError, HandleEvent};

use crate::consumers::actions::Actions;
use crate::domain::refresh::Refresher;
use crate::startup::RouterHandle;

/// The handler actor of the catalogue consumer.
pub struct CatalogueUpdater {
    pub refresher: Refresher,
    /// Deleted users' sequences leave the aggregators too.
    pub router: RouterHandle,
}

impl Actor for CatalogueUpdater {
    type Context = Context<Self>;
}

impl Handler<HandleEvent> for CatalogueUpdater {
    type Result = ResponseFuture<Result<(), HandleError>>;

    fn handle(&mut self, HandleEvent(event): HandleEvent, _: &mut Context<Self>) -> Self::Result {
        let (refresher, router) = (self.refresher.clone(), self.router.clone());
        Box::pin(async move { apply(&refresher, &router, &event).await })
    }
}

fn payload<T: serde::de::DeserializeOwned>(event: &ConsumedEvent) -> Result<T, HandleError> {
    event
        .envelope
        .payload_as()
        .map_err(|e| HandleError::Rejected(format!("invalid {} payload: {e}", event.envelope.event_type)))
}

#[tracing::instrument(skip_all, fields(event_id = %event.envelope.event_id, event_type = %event.envelope.event_type))]
async fn apply(
    refresher: &Refresher,
    router: &RouterHandle,
    event: &ConsumedEvent,
) -> Result<(), HandleError> {
    let catalogue = &refresher.catalogue;
    match event.envelope.event_type.as_str() {
        event_types::PRODUCT_CREATED | event_types::PRODUCT_UPDATED => {
            let product: ProductSnapshot = payload(event)?;
            product.check(Utc::now()).map_err(HandleError::Rejected)?;
            let info = Some((product.category, product.active));
            if catalogue.apply_product(product.id, product.version, info).await? && !product.active {
                refresher.product_gone(product.id).await?;
            }
        }
        event_types::PRODUCT_DELETED => {
            let deleted: ProductDeleted = payload(event)?;
            if catalogue.apply_product(deleted.id, deleted.version, None).await? {
                refresher.product_gone(deleted.id).await?;
            }
        }
        event_types::USER_REGISTERED | event_types::USER_UPDATED => {
            let profile: UserProfile = payload(event)?;
            profile.check(Utc::now()).map_err(HandleError::Rejected)?;
            let changed = catalogue
                .apply_user(profile.id, profile.interests, profile.updated_at)
                .await?;
            // Lists fall back on interests: recompute (Postgres and Redis), not just invalidate.
            // Only on a real change: an instance starting reads every profile event again (its
            // catalogue, loaded from Postgres, already knows them), and a registration without
            // interests changes nothing.
            if changed {
                refresher.refresh(&[profile.id]).await?;
            }
        }
        event_types::USER_DELETED => {
            let deleted: UserDeleted = payload(event)?;
            Actions::forget_user(router, deleted.id).await;
            catalogue.delete_user(deleted.id).await?;
            refresher.cache.forget_user(deleted.id).await;
        }
        // Newer producers may add event types; they do not concern the recommender.
        other => tracing::debug!(event_type = other, "ignored event type"),
    }
    Ok(())
}
