//! Trains a method on the train part and measures it on the test part.
use std::collections::{BTreeMap, HashMap};

use indicatif::{ProgressBar, ProgressStyle};
use rustc_hash::{FxHashMap, FxHashSet};

use super::dataset::Rating;
use super::metrics::{Accumulator, Metrics};
use crate::model::aggregator::Aggregator;
use crate::model::score::{
    boosts, long_lists, long_or_all, most_popular, score, top, Neighbourhood, Scratch,
};
use crate::model::sequence::Interaction;
use crate::model::{Item, ModelParams};

/// What to evaluate.
#[derive(Debug, Clone)]
pub enum Method {
    /// Train interaction count, highest first.
    MostPopular,
    /// The model with these parameters, lists filled with category then global popularity.
    Model(ModelParams),
}

/// Everything a run needs besides the method.
pub struct Run<'a> {
    pub train: &'a [Rating],
    pub test: &'a [Rating],
    pub k: usize,
    /// Genres of items, for filling short lists with the user's categories first.
    pub genres: Option<&'a HashMap<Item, Vec<String>>>,
    pub progress: bool,
}

/// A trained model: the aggregator's user state and everything scoring reads.
struct Trained {
    aggregator: Aggregator<u32>,
    popularity: Vec<(Item, f64)>,
    neighbours: FxHashMap<Item, Vec<(Item, f64)>>,
    /// The long-term popularity factor of every item.
    boosts: Vec<f64>,
    /// The long-term score's shorter lists (empty: it reads `neighbours`).
    long: FxHashMap<Item, Vec<(Item, f64)>>,
}

impl Neighbourhood for Trained {
    fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        self.neighbours.get(&item).map(Vec::as_slice)
    }

    fn long_neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        long_or_all(&self.long, &self.neighbours, item)
    }

    fn boost(&self, item: Item) -> f64 {
        self.boosts.get(item as usize).copied().unwrap_or(1.0)
    }
}

fn train(ratings: &[Rating], params: &ModelParams, with_neighbours: bool) -> Trained {
    let mut ordered = ratings.to_vec();
    ordered.sort_by_key(|r| (r.time, r.row));
    let mut aggregator = Aggregator::new(params.clone());
    for r in &ordered {
        aggregator.observe(r.user, Interaction::implicit(r.item, r.time * 1000));
    }
    let (counts, _) = aggregator.take();
    let mut popularity: Vec<(Item, f64)> = counts.items.iter().map(|(&i, &n)| (i, n)).collect();
    top(&mut popularity, 0);
    let neighbours = if with_neighbours {
        counts.all_neighbours(params)
    } else {
        FxHashMap::default()
    };
    let boosts = boosts(counts.items.iter().map(|(&i, &n)| (i, n)), params.long_popularity);
    let long = long_lists(neighbours.iter().map(|(&i, list)| (i, list.as_slice())), params);
    Trained {
        aggregator,
        popularity,
        neighbours,
        boosts,
        long,
    }
}

impl Run<'_> {
    /// The list of every user with at least one train and one test row (for comparing with
    /// another implementation, e.g. the live replay).
    pub fn lists(&self, params: &ModelParams) -> BTreeMap<u32, Vec<Item>> {
        let trained = train(self.train, params, true);
        let by_category = self.category_popularity(&trained.popularity);
        let method = Method::Model(params.clone());
        let mut scratch = Scratch::default();
        let users: std::collections::BTreeSet<u32> = self.test.iter().map(|r| r.user).collect();
        users
            .into_iter()
            .filter_map(|user| {
                let list = self.recommend(&method, &trained, &by_category, user, &mut scratch)?;
                Some((user, list))
            })
            .collect()
    }

    /// Scores every user with at least one train and one test row.
    pub fn evaluate(&self, method: &Method) -> Metrics {
        let params = match method {
            // Popularity needs the item counts only: no pairs.
            Method::MostPopular => ModelParams {
                pair_window: 0,
                simultaneous_weight: 0.0,
                ..ModelParams::plain_cosine()
            },
            Method::Model(params) => params.clone(),
        };
        let trained = train(self.train, &params, matches!(method, Method::Model(_)));
        let by_category = self.category_popularity(&trained.popularity);
        let mut relevant: BTreeMap<u32, FxHashSet<Item>> = BTreeMap::new();
        for r in self.test {
            relevant.entry(r.user).or_default().insert(r.item);
        }
        let bar = if self.progress {
            ProgressBar::new(relevant.len() as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{msg:>14} {bar:40} {pos}/{len} users")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(match method {
            Method::MostPopular => "most popular",
            Method::Model(_) => "scoring",
        });
        // Users are independent: score them on every core, one scratch per thread.
        let users: Vec<(&u32, &FxHashSet<Item>)> = relevant.iter().collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = users.len().div_ceil(threads).max(1);
        let accumulators: Vec<Accumulator> = std::thread::scope(|scope| {
            let workers: Vec<_> = users
                .chunks(chunk)
                .map(|part| {
                    let (trained, by_category, bar) = (&trained, &by_category, &bar);
                    scope.spawn(move || {
                        let mut acc = Accumulator::default();
                        let mut scratch = Scratch::default();
                        for &(user, relevant) in part {
                            bar.inc(1);
                            if let Some(list) =
                                self.recommend(method, trained, by_category, *user, &mut scratch)
                            {
                                acc.add(&list, relevant, self.k);
                            }
                        }
                        acc
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        bar.finish_and_clear();
        let mut total = Accumulator::default();
        for acc in &accumulators {
            total.merge(acc);
        }
        total.finish()
    }

    /// One user's list, or `None` for a user without train rows.
    fn recommend(
        &self,
        method: &Method,
        trained: &Trained,
        by_category: &HashMap<String, Vec<(Item, f64)>>,
        user: u32,
        scratch: &mut Scratch,
    ) -> Option<Vec<Item>> {
        let sequence = trained.aggregator.user(&user)?;
        let excluded = |j: Item| sequence.excluded.contains(&j);
        Some(match method {
            Method::MostPopular => most_popular(&trained.popularity, excluded, self.k)
                .iter()
                .map(|p| p.0)
                .collect(),
            Method::Model(params) => {
                let history = sequence.history(params.scoring_history());
                let scored = score(
                    history,
                    params.long_share(sequence.seen.len()),
                    trained,
                    excluded,
                    self.k,
                    params,
                    scratch,
                );
                let mut list: Vec<Item> = scored.iter().map(|s| s.item).collect();
                let categories =
                    self.user_categories(sequence.history(params.history_limit).map(|(i, _, _)| i));
                let sources = categories
                    .iter()
                    .filter_map(|c| by_category.get(c).map(Vec::as_slice));
                fill(
                    &mut list,
                    sources.chain([trained.popularity.as_slice()]),
                    excluded,
                    self.k,
                );
                list
            }
        })
    }

    /// Items of each category by train popularity, best first.
    fn category_popularity(&self, popularity: &[(Item, f64)]) -> HashMap<String, Vec<(Item, f64)>> {
        let mut out: HashMap<String, Vec<(Item, f64)>> = HashMap::new();
        if let Some(genres) = self.genres {
            for &(item, n) in popularity {
                for genre in genres.get(&item).into_iter().flatten() {
                    out.entry(genre.clone()).or_default().push((item, n));
                }
            }
        }
        out
    }

    /// The user's three most frequent categories among their recent items.
    fn user_categories(&self, history: impl Iterator<Item = Item>) -> Vec<String> {
        let Some(genres) = self.genres else {
            return Vec::new();
        };
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for item in history {
            for genre in genres.get(&item).into_iter().flatten() {
                *counts.entry(genre.as_str()).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.into_iter().take(3).map(|(g, _)| g.to_owned()).collect()
    }
}

/// Appends items from `sources` (each best first) until `list` holds `k`, skipping excluded
/// and already listed items.
pub fn fill<'a, E: Fn(Item) -> bool>(
    list: &mut Vec<Item>,
    sources: impl IntoIterator<Item = &'a [(Item, f64)]>,
    excluded: E,
    k: usize,
) {
    for source in sources {
        for &(item, _) in source {
            if list.len() >= k {
                return;
            }
            if !excluded(item) && !list.contains(&item) {
                list.push(item);
            }
        }
    }
}
