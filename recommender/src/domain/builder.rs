//! Building a user's list: model scores over the user's recent items, then popular items of the
//! user's categories, then trending items; only recommendable products, never excluded ones.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rustc_hash::FxHashMap;

use super::catalogue::Catalogue;
use super::list::{Reason, Recommendation, RecommendationList};
use crate::model::replica::{Overlay, Replica};
use crate::model::score::{boosts, long_lists, long_or_all, score, top, Neighbourhood, Scratch};
use crate::model::sequence::UserSequence;
use crate::model::{Item, ModelParams};
use crate::replication::SharedReplica;

/// Popular recommendable items, overall (trending: items someone interacted with) and per
/// category (every recommendable item, so new products reach lists too), best first: higher
/// decayed popularity, then smaller item. With them, the long-term score's popularity factor of
/// every item (`N^long_popularity`, see `score`).
#[derive(Debug, Default)]
pub struct Rankings {
    pub trending: Vec<(Item, f64)>,
    pub by_category: HashMap<String, Vec<(Item, f64)>>,
    boosts: Vec<f64>,
}

impl Rankings {
    /// From the replica's counts and popularity and the recommendable items with their
    /// categories; `long_popularity` is the exponent of the long-term popularity factor.
    pub fn new(replica: &Replica, recommendable: &HashMap<Item, String>, long_popularity: f64) -> Self {
        let mut trending: Vec<(Item, f64)> = replica
            .popular()
            .filter(|(item, _)| recommendable.contains_key(item))
            .collect();
        top(&mut trending, 0);
        let mut by_category: HashMap<String, Vec<(Item, f64)>> = HashMap::new();
        for (&item, category) in recommendable {
            by_category
                .entry(category.clone())
                .or_default()
                .push((item, replica.popularity(item)));
        }
        for items in by_category.values_mut() {
            top(items, 0);
        }
        Self {
            trending,
            by_category,
            boosts: boosts(replica.counts_n(), long_popularity),
        }
    }

    /// The long-term popularity factor of `item` (1 when there is none).
    pub fn boost(&self, item: Item) -> f64 {
        self.boosts.get(item as usize).copied().unwrap_or(1.0)
    }

    /// The popular items of a category, best first.
    pub fn popular_in(&self, category: &str) -> &[(Item, f64)] {
        self.by_category.get(category).map_or(&[], Vec::as_slice)
    }
}

/// Rankings computed once per replica and catalogue version (many requests and flushes share
/// them; they change only when a delta is applied or a product changes).
#[derive(Clone, Default)]
pub struct RankingCache {
    current: Arc<Mutex<Option<Ranked>>>,
    long_popularity: f64,
}

/// Rankings and the (replica, catalogue) versions they were computed at.
type Ranked = ((u64, u64), Arc<Rankings>);

impl RankingCache {
    /// An empty cache for these model parameters.
    pub fn new(params: &ModelParams) -> Self {
        Self {
            current: Arc::default(),
            long_popularity: params.long_popularity,
        }
    }

    /// The rankings of the replica and catalogue as they are now.
    pub fn get(&self, replica: &SharedReplica, catalogue: &Catalogue) -> Arc<Rankings> {
        let key = (replica.read().version(), catalogue.version());
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, rankings)) = &*current {
            if *at == key {
                return rankings.clone();
            }
        }
        let rankings = Arc::new(Rankings::new(
            &replica.read(),
            &catalogue.recommendable_items(),
            self.long_popularity,
        ));
        *current = Some((key, rankings.clone()));
        rankings
    }
}

/// What building lists reads, computed once for a batch of users.
pub struct Inputs {
    neighbours: FxHashMap<Item, Vec<(Item, f64)>>,
    /// The long-term score's shorter lists (empty: it reads `neighbours`).
    long: FxHashMap<Item, Vec<(Item, f64)>>,
    recommendable: HashMap<Item, String>,
    rankings: Arc<Rankings>,
}

impl Neighbourhood for Inputs {
    fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        self.neighbours.get(&item).map(Vec::as_slice)
    }

    fn long_neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        long_or_all(&self.long, &self.neighbours, item)
    }

    fn boost(&self, item: Item) -> f64 {
        self.rankings.boost(item)
    }
}

/// The categories a user's list falls back on: declared interests, then the categories of
/// their recent items by frequency (at most 3 of those).
fn categories(
    sequence: Option<&UserSequence>,
    interests: &[String],
    catalogue: &Catalogue,
    params: &ModelParams,
) -> Vec<String> {
    let mut out: Vec<String> = interests.to_vec();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (item, _, _) in sequence.into_iter().flat_map(|s| s.history(params.history_limit)) {
        if let Some(category) = catalogue.category(item) {
            *counts.entry(category).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (category, _) in ranked.into_iter().take(3) {
        if !out.contains(&category) {
            out.push(category);
        }
    }
    out
}

impl Inputs {
    /// The neighbours of the users' recent items in `replica` (plus `overlay`: a flush's own
    /// increments, not applied yet), and the rankings.
    pub fn new(
        replica: &SharedReplica,
        overlay: Option<&Overlay<'_>>,
        rankings: Arc<Rankings>,
        catalogue: &Catalogue,
        users: &[(Option<&UserSequence>, Vec<String>)],
        params: &ModelParams,
    ) -> Self {
        let mut items: Vec<Item> = users
            .iter()
            .flat_map(|(s, _)| {
                s.iter()
                    .flat_map(|s| s.history(params.scoring_history()).map(|(i, _, _)| i))
            })
            .collect();
        items.sort_unstable();
        items.dedup();
        // The replica is locked per item: deltas of other partitions are applied in between
        // instead of waiting for the whole batch.
        let neighbours: FxHashMap<Item, Vec<(Item, f64)>> = items
            .into_iter()
            .map(|i| (i, replica.read().neighbours(i, overlay, params)))
            .collect();
        let long = long_lists(neighbours.iter().map(|(&i, list)| (i, list.as_slice())), params);
        Self {
            neighbours,
            long,
            recommendable: catalogue.recommendable_items(),
            rankings,
        }
    }

    /// The list of one user (`sequence` is `None` for a user without actions: cold start).
    pub fn build(
        &self,
        sequence: Option<&UserSequence>,
        interests: &[String],
        catalogue: &Catalogue,
        params: &ModelParams,
        length: usize,
        scratch: &mut Scratch,
    ) -> RecommendationList {
        let excluded = |j: Item| {
            !self.recommendable.contains_key(&j) || sequence.is_some_and(|s| s.excluded.contains(&j))
        };
        let history = sequence
            .into_iter()
            .flat_map(|s| s.history(params.scoring_history()));
        let long_share = params.long_share(sequence.map_or(0, |s| s.seen.len()));
        let scored = score(history, long_share, self, excluded, length, params, scratch);
        let mut items: Vec<Recommendation> = scored
            .iter()
            .filter_map(|s| {
                Some(Recommendation {
                    product_id: catalogue.product(s.item)?,
                    score: s.score,
                    reason: Reason::SimilarTo {
                        product_id: catalogue.product(s.because)?,
                    },
                })
            })
            .collect();
        let mut listed: Vec<Item> = scored.iter().map(|s| s.item).collect();
        let mut add = |item: Item, reason: Reason, items: &mut Vec<Recommendation>| {
            if items.len() < length && !excluded(item) && !listed.contains(&item) {
                if let Some(product_id) = catalogue.product(item) {
                    listed.push(item);
                    items.push(Recommendation {
                        product_id,
                        score: 0.0,
                        reason,
                    });
                }
            }
        };
        for category in categories(sequence, interests, catalogue, params) {
            for &(item, _) in self.rankings.popular_in(&category) {
                if items.len() >= length {
                    break;
                }
                add(
                    item,
                    Reason::PopularIn {
                        category: category.clone(),
                    },
                    &mut items,
                );
            }
        }
        for &(item, _) in &self.rankings.trending {
            if items.len() >= length {
                break;
            }
            add(item, Reason::Trending, &mut items);
        }
        RecommendationList {
            items,
            generated_at: Utc::now(),
            based_on: sequence.map_or(0, UserSequence::version),
        }
    }
}
