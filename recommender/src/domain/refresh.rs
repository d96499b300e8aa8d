//! Recomputing lists outside a flush: for users whose list holds a product that stopped being
//! recommendable, and for users without a stored list (cold start, computed on request).
use std::sync::Arc;

use anyhow::Context;
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

use crate::configuration::RecommenderSettings;
use crate::domain::builder::{Inputs, RankingCache};
use crate::domain::catalogue::Catalogue;
use crate::domain::list::RecommendationList;
use crate::model::score::Scratch;
use crate::model::sequence::UserSequence;
use crate::replication::SharedReplica;
use crate::repository::cache::ListCache;
use crate::repository::lists::{self, Write};
use crate::repository::sequences;

/// What a refresh reads and writes.
#[derive(Clone)]
pub struct Refresher {
    pub db: DatabaseConnection,
    pub catalogue: Catalogue,
    pub cache: ListCache,
    pub replica: SharedReplica,
    pub rankings: RankingCache,
    pub settings: Arc<RecommenderSettings>,
}

impl Refresher {
    /// Computes the lists of `users` from the stored state, stores them (Postgres, then Redis)
    /// and returns them.
    pub async fn refresh(&self, users: &[Uuid]) -> anyhow::Result<Vec<(Uuid, RecommendationList)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sequences = sequences::load(&self.db, users).await?;
        let profiles: Vec<_> = users
            .iter()
            .map(|u| (sequences.get(u), self.catalogue.interests(*u)))
            .collect();
        let built: Vec<(Uuid, RecommendationList)> =
            users.iter().copied().zip(self.build(&profiles)).collect();
        let refs: Vec<(Uuid, &RecommendationList)> = built.iter().map(|(u, l)| (*u, l)).collect();
        let txn = self.db.begin().await.context("Failed to begin a refresh")?;
        let written = lists::save(&txn, &refs, Write::IfNewer).await?;
        txn.commit().await.context("Failed to commit a refresh")?;
        // A list a flush cached meanwhile is newer and stays (the cache compares versions).
        let changed: Vec<(Uuid, &RecommendationList)> =
            refs.into_iter().filter(|(u, _)| written.contains(u)).collect();
        self.cache.put(&changed).await;
        Ok(built)
    }

    /// The list of a user without a stored list (no actions yet): popular in `interests`,
    /// then trending. Not stored: it is the same for everyone with these interests, and storing
    /// it per user would let any unknown id create a row.
    pub fn cold(&self, interests: Vec<String>) -> RecommendationList {
        let mut built = self.build(&[(None, interests)]);
        built.pop().unwrap_or_else(|| RecommendationList {
            items: Vec::new(),
            generated_at: chrono::Utc::now(),
            based_on: 0,
        })
    }

    /// The list of each (sequence, interests) profile, from the replica.
    fn build(&self, profiles: &[(Option<&UserSequence>, Vec<String>)]) -> Vec<RecommendationList> {
        let settings = &self.settings;
        let rankings = self.rankings.get(&self.replica, &self.catalogue);
        let inputs = Inputs::new(
            &self.replica,
            None,
            rankings,
            &self.catalogue,
            profiles,
            &settings.model,
        );
        let mut scratch = Scratch::default();
        profiles
            .iter()
            .map(|(sequence, interests)| {
                inputs.build(
                    *sequence,
                    interests,
                    &self.catalogue,
                    &settings.model,
                    settings.list_length,
                    &mut scratch,
                )
            })
            .collect()
    }

    /// Rebuilds the oldest lists past `list_refresh_after_seconds` (at most
    /// `list_refresh_batch`); how many were rebuilt.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        let settings = &self.settings;
        let users = lists::stale(
            &self.db,
            settings.list_refresh_after_seconds,
            settings.list_refresh_batch,
        )
        .await?;
        Ok(self.refresh(&users).await?.len())
    }

    /// Refreshes the lists that hold `product` (it became inactive or was deleted).
    pub async fn product_gone(&self, product: Uuid) -> anyhow::Result<usize> {
        let users = lists::users_listing(&self.db, product).await?;
        for chunk in users.chunks(500) {
            self.refresh(chunk).await?;
        }
        Ok(users.len())
    }
}

/// Sweeps stale lists once a second (unless `list_refresh_after_seconds` is 0): what other users
/// did since a list was built reaches it although its own user did nothing. Every instance
/// sweeps; a list rebuilt twice is harmless (writes are version-guarded).
pub fn start_sweeper(refresher: Refresher, rebuilt: prometheus::IntCounter) {
    if refresher.settings.list_refresh_after_seconds == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            match refresher.sweep().await {
                Ok(count) => rebuilt.inc_by(count as u64),
                Err(e) => tracing::warn!(error = ?e, "Stale-list sweep failed"),
            }
        }
    });
}
