//! The read path, in one place: a user's list from the nearest tier (in process, Redis,
//! Postgres) or computed for a user without one, filtered against the live catalogue and
//! serialised; products similar to one; popular products. Routes parse, authorise and call this.
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::list::{Reason, Recommendation, RecommendationList};
use super::refresh::Refresher;
use crate::metrics::RecommenderMetrics;
use crate::model::{popularity, Item};
use crate::repository::cache::{Answers, Recent, Tier};
use crate::repository::lists;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cache,
    Database,
    Computed,
}

/// A user's recommendations.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserRecommendations {
    pub user_id: Uuid,
    pub source: Source,
    pub generated_at: DateTime<Utc>,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Recommendation>,
}

/// Scored products without a reason (similar and popular lists).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoredProduct {
    pub product_id: Uuid,
    pub score: f64,
}

/// What a read can fail on.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such product")]
    UnknownProduct,
    /// Postgres (or serialisation) failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The read path's state; one per service, shared by the HTTP workers.
pub struct Recommendations {
    refresher: Refresher,
    metrics: RecommenderMetrics,
    /// Cold-start lists by interests, for one flush interval.
    cold: Recent<Vec<String>, RecommendationList>,
    /// Scored neighbours by product, with the replica version they were computed at.
    similar: Recent<Item, (u64, Vec<(Item, f64)>)>,
    /// Serialised answers of lists held in process.
    answers: Answers,
}

impl Recommendations {
    /// Shared answers live `shared_for` (a flush interval, at most a second).
    pub fn new(refresher: Refresher, metrics: RecommenderMetrics, shared_for: Duration) -> Self {
        let capacity = refresher.settings.local_cache_capacity;
        Self {
            refresher,
            metrics,
            cold: Recent::new(10_000, shared_for),
            similar: Recent::new(100_000, shared_for),
            answers: Answers::new(capacity),
        }
    }

    /// The longest list answered.
    pub fn max_limit(&self) -> usize {
        self.refresher.settings.list_length
    }

    /// A user's answer (`UserRecommendations` as JSON): at most `limit` products, only of
    /// `category` if given. Lists held in process are answered with the bytes made the last
    /// time while neither the list nor the catalogue changed.
    pub async fn for_user(
        &self,
        user: Uuid,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Bytes, ReadError> {
        let (source, tier, list) = self.list(user).await?;
        // The API says `cache` for both tiers; the metric tells them apart.
        let label = match (source, tier) {
            (_, Some(Tier::Memory)) => "memory",
            (Source::Cache, _) => "cache",
            (Source::Database, _) => "database",
            (Source::Computed, _) => "computed",
        };
        self.metrics.served.with_label_values(&[label]).inc();
        // A category filter also reads the rankings: not kept.
        let reusable = tier == Some(Tier::Memory) && category.is_none();
        let catalogue = self.refresher.catalogue.version();
        if reusable {
            if let Some(body) = self.answers.get(user, limit, &list, catalogue) {
                return Ok(body);
            }
        }
        let items = self.visible(&list, category, limit);
        let body = serde_json::to_vec(&UserRecommendations {
            user_id: user,
            source,
            generated_at: list.generated_at,
            items,
        })
        .map_err(anyhow::Error::from)?;
        let body = Bytes::from(body);
        if reusable {
            self.answers.insert(user, limit, list, catalogue, body.clone());
        }
        Ok(body)
    }

    /// The user's list from the nearest tier, or computed from their interests.
    async fn list(&self, user: Uuid) -> anyhow::Result<(Source, Option<Tier>, Arc<RecommendationList>)> {
        let refresher = &self.refresher;
        if let Some((list, tier)) = refresher.cache.get(user).await {
            return Ok((Source::Cache, Some(tier), list));
        }
        if let Some(list) = lists::load(&refresher.db, user).await? {
            let list = Arc::new(list);
            refresher.cache.fill(user, &list).await;
            return Ok((Source::Database, None, list));
        }
        let interests = refresher.catalogue.interests(user);
        let list = match self.cold.get(&interests) {
            Some(list) => list,
            None => {
                let list = Arc::new(refresher.cold(interests.clone()));
                self.cold.insert(interests, list.clone());
                list
            }
        };
        Ok((Source::Computed, None, list))
    }

    /// Drops products that stopped being recommendable since the list was made, applies the
    /// category filter, and fills up from the category's popular products.
    fn visible(
        &self,
        list: &RecommendationList,
        category: Option<&str>,
        limit: usize,
    ) -> Vec<Recommendation> {
        let refresher = &self.refresher;
        let catalogue = &refresher.catalogue;
        let keep = |product: Uuid| {
            catalogue.item(product).is_some_and(|item| {
                catalogue.recommendable(item)
                    && category.is_none_or(|c| catalogue.category(item).as_deref() == Some(c))
            })
        };
        let mut items: Vec<Recommendation> = list
            .items
            .iter()
            .filter(|r| keep(r.product_id))
            .take(limit)
            .cloned()
            .collect();
        if let Some(category) = category.filter(|_| items.len() < limit) {
            let rankings = refresher.rankings.get(&refresher.replica, catalogue);
            for &(item, _) in rankings.popular_in(category).iter().take(limit * 2) {
                let Some(product_id) = catalogue.product(item) else {
                    continue;
                };
                if items.len() < limit && !items.iter().any(|r| r.product_id == product_id) {
                    items.push(Recommendation {
                        product_id,
                        score: 0.0,
                        reason: Reason::PopularIn {
                            category: category.to_owned(),
                        },
                    });
                }
            }
        }
        items
    }

    /// At most `limit` recommendable products most similar to `product`. Neighbours are kept
    /// until the item's row changes, and at most one flush interval (the counts of the
    /// neighbours themselves move too).
    pub fn similar(&self, product: Uuid, limit: usize) -> Result<Vec<ScoredProduct>, ReadError> {
        let refresher = &self.refresher;
        let catalogue = &refresher.catalogue;
        let item = catalogue.item(product).ok_or(ReadError::UnknownProduct)?;
        let computed = self.similar.get(&item).filter(|cached| {
            let (version, _) = &**cached;
            *version >= refresher.replica.read().row_version(item)
        });
        let scored = match computed {
            Some(cached) => cached,
            None => {
                let replica = refresher.replica.read();
                let version = replica.version();
                let mut scored = replica.neighbours(item, None, &refresher.settings.model);
                drop(replica);
                crate::model::score::top(&mut scored, 0);
                let cached = Arc::new((version, scored));
                self.similar.insert(item, cached.clone());
                cached
            }
        };
        Ok(scored
            .1
            .iter()
            .copied()
            .filter(|(j, _)| catalogue.recommendable(*j))
            .filter_map(|(j, score)| {
                Some(ScoredProduct {
                    product_id: catalogue.product(j)?,
                    score,
                })
            })
            .take(limit)
            .collect())
    }

    /// At most `limit` popular products, overall (trending) or in `category`, scored relative
    /// to the first (the stored popularity is a logarithm relative to a fixed reference time).
    pub fn popular(&self, category: Option<&str>, limit: usize) -> Vec<ScoredProduct> {
        let refresher = &self.refresher;
        let rankings = refresher.rankings.get(&refresher.replica, &refresher.catalogue);
        let ranked: Vec<(Item, f64)> = match category {
            Some(category) => rankings
                .popular_in(category)
                .iter()
                .take(limit)
                .copied()
                .collect(),
            None => rankings.trending.iter().take(limit).copied().collect(),
        };
        let top = ranked.first().map_or(popularity::NONE, |(_, p)| *p);
        ranked
            .into_iter()
            .filter_map(|(item, p)| {
                Some(ScoredProduct {
                    product_id: refresher.catalogue.product(item)?,
                    score: popularity::relative(p, top),
                })
            })
            .collect()
    }
}
