//! Users known to exist, so that ingesting an action for a user does not query PostgreSQL each
//! time (the hot path of `POST /users/{id}/actions` with an ingest key).
//!
//! Why a remembered answer stays true: a deletion reaches every instance through the revocation
//! feed within about a second and is remembered there for [`Revocations::memory`]; an answer is
//! trusted for a shorter time ([`KnownUsers::new`]), so an answer confirmed before a deletion has
//! expired before that instance forgets the deletion.
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use sea_orm::ConnectionTrait;
use shared::auth::Revocations;
use uuid::Uuid;

use super::users;

/// A bounded set of users confirmed to exist, each with when it was confirmed.
pub struct KnownUsers {
    confirmed: Cache<Uuid, Instant>,
    trusted_for: Duration,
}

/// How much shorter than the revocation memory an answer is trusted (clock leeway is already in
/// that memory; this covers a lookup running while the deletion arrives).
const MARGIN: Duration = Duration::from_secs(30);

impl KnownUsers {
    /// Remembers up to `capacity` users; an answer is trusted a little less long than
    /// `revocations` remember a deletion.
    pub fn new(capacity: usize, revocations: &Revocations) -> Self {
        Self {
            confirmed: Cache::new(capacity.max(1)),
            trusted_for: revocations.memory().saturating_sub(MARGIN),
        }
    }

    /// True when the user exists: from memory when confirmed recently and not deleted since,
    /// else from the database (and remembered when found).
    pub async fn exists(
        &self,
        db: &impl ConnectionTrait,
        revocations: &Revocations,
        id: Uuid,
    ) -> anyhow::Result<bool> {
        if revocations.is_user_deleted(id) {
            return Ok(false);
        }
        if let Some(at) = self.confirmed.get(&id) {
            if at.elapsed() < self.trusted_for {
                return Ok(true);
            }
        }
        let checked_at = Instant::now();
        let found = users::find(db, id).await?.is_some();
        // A deletion that arrived during the lookup wins.
        if found && !revocations.is_user_deleted(id) {
            self.confirmed.insert(id, checked_at);
        }
        Ok(found)
    }

    /// Forgets a user (deleted by this instance).
    pub fn forget(&self, id: Uuid) {
        self.confirmed.remove(&id);
    }
}
