//! Building a user's list: model scores over the user's recent items, then popular items of the
//! user's categories, then trending items; only recommendable products, never excluded ones.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::Catalogue;
use crate::model::score::{neighbours, pair_of, score, Counts, Norms, Scratch};
use crate::model::sequence::UserSequence;
use crate::model::{Item, ModelParams};
use crate::repository::state::{self, RowCache};

/// Why an item is on the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// Users who interacted with this product of yours went on to this one.
    SimilarTo { product_id: Uuid },
    /// Popular in a category you like or interact with.
    PopularIn { category: String },
    /// Popular overall right now.
    Trending,
}

/// One recommended product. Items filled from popularity have score 0 (the order is the list's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub product_id: Uuid,
    pub score: f64,
    pub reason: Reason,
}

/// A user's list as stored and cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationList {
    pub items: Vec<Recommendation>,
    pub generated_at: DateTime<Utc>,
    /// The version of the user's sequence the list was built from (0: no history).
    #[serde(default)]
    pub based_on: i64,
}

/// What building lists reads, loaded once for a batch of users.
pub struct Inputs {
    neighbours: FxHashMap<Item, Vec<(Item, f64)>>,
    recommendable: HashMap<Item, String>,
    popular_in: HashMap<String, Vec<(Item, f64)>>,
    trending: Vec<(Item, f64)>,
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

/// Adds not-yet-written increments to loaded rows (for `items`) and item counts.
fn merge_pending(
    rows: &mut FxHashMap<Item, Vec<(Item, f64)>>,
    counts: &mut FxHashMap<Item, f64>,
    pending: &Counts,
    items: &[Item],
) {
    for (&key, &w) in &pending.pairs {
        let (from, to) = pair_of(key);
        if items.binary_search(&from).is_err() {
            continue;
        }
        let row = rows.entry(from).or_default();
        match row.iter_mut().find(|(j, _)| *j == to) {
            Some(entry) => entry.1 += w,
            None => row.push((to, w)),
        }
    }
    // Stored N of every involved item was loaded (absent = 0); unused extra entries are harmless.
    for (&item, &n) in &pending.items {
        *counts.entry(item).or_insert(0.0) += n;
    }
}

impl Inputs {
    /// Loads neighbours of the users' recent items, popular items of their categories, and
    /// trending items, as `db` sees them plus `pending` increments not written yet (a flush
    /// writes its counts last, to hold the locks on shared rows as briefly as possible).
    pub async fn load(
        db: &impl ConnectionTrait,
        row_cache: &RowCache,
        catalogue: &Catalogue,
        users: &[(Option<&UserSequence>, Vec<String>)],
        params: &ModelParams,
        list_length: usize,
        pending: Option<&Counts>,
    ) -> anyhow::Result<Self> {
        let mut items: Vec<Item> = users
            .iter()
            .flat_map(|(s, _)| {
                s.iter()
                    .flat_map(|s| s.history(params.history_limit).map(|(i, _, _)| i))
            })
            .collect();
        items.sort_unstable();
        items.dedup();
        // Items that only pending pairs reach still need their stored N.
        let extra: Vec<Item> = pending
            .map(|p| {
                p.pairs
                    .keys()
                    .map(|&k| pair_of(k))
                    .filter(|(f, _)| items.binary_search(f).is_ok())
                    .map(|(_, t)| t)
                    .collect()
            })
            .unwrap_or_default();
        let (mut rows, mut counts) = row_cache.rows(db, &items, &extra).await?;
        if let Some(pending) = pending {
            merge_pending(&mut rows, &mut counts, pending, &items);
        }
        let norms = Norms::new(&counts, params);
        let neighbours = rows
            .iter()
            .map(|(&i, row)| (i, neighbours(i, row, &norms, params)))
            .collect();
        let mut wanted: Vec<String> = users
            .iter()
            .flat_map(|(s, interests)| categories(*s, interests, catalogue, params))
            .collect();
        wanted.sort();
        wanted.dedup();
        let depth = (list_length * 2) as u64;
        Ok(Self {
            neighbours,
            recommendable: catalogue.recommendable_items(),
            popular_in: state::popular_in(db, &wanted, depth).await?,
            trending: state::trending(db, depth).await?,
        })
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
        let history = sequence.into_iter().flat_map(|s| s.history(params.history_limit));
        let scored = score(
            history,
            |i| self.neighbours.get(&i).map(Vec::as_slice),
            excluded,
            length,
            params,
            scratch,
        );
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
            for &(item, _) in self.popular_in.get(&category).into_iter().flatten() {
                add(
                    item,
                    Reason::PopularIn {
                        category: category.clone(),
                    },
                    &mut items,
                );
            }
        }
        for &(item, _) in &self.trending {
            add(item, Reason::Trending, &mut items);
        }
        RecommendationList {
            items,
            generated_at: Utc::now(),
            based_on: sequence.map_or(0, UserSequence::version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sequence::PairIncrement;

    #[test]
    fn pending_increments_are_added_to_loaded_rows_and_counts() {
        let mut rows: FxHashMap<Item, Vec<(Item, f64)>> = [(1, vec![(2, 1.0)])].into_iter().collect();
        let mut counts: FxHashMap<Item, f64> = [(1, 2.0), (2, 1.0), (3, 4.0)].into_iter().collect();
        let mut pending = Counts::default();
        pending.add_pair(PairIncrement {
            from: 1,
            to: 2,
            weight: 0.5,
        });
        pending.add_pair(PairIncrement {
            from: 1,
            to: 3,
            weight: 1.0,
        });
        // A row of an item no user of this batch holds: ignored.
        pending.add_pair(PairIncrement {
            from: 9,
            to: 1,
            weight: 1.0,
        });
        pending.add_item(3, 1.0);
        merge_pending(&mut rows, &mut counts, &pending, &[1]);
        let mut row = rows[&1].clone();
        row.sort_by_key(|(j, _)| *j);
        assert_eq!(row, vec![(2, 1.5), (3, 1.0)]);
        assert!(!rows.contains_key(&9));
        assert_eq!(counts[&3], 5.0);
    }
}
