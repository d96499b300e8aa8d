//! Global counts, similarities and top-k scoring.
use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use super::sequence::PairIncrement;
use super::{Item, ModelParams};

/// Co-interaction state summed over all users: `N_i` (users who interacted with `i`) and the
/// directional counts `C[i][j]`, keyed by [`pair_key`] (one flat map: one lookup per increment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub items: FxHashMap<Item, f64>,
    pub pairs: FxHashMap<u64, f64>,
}

/// The key of `C[from][to]`.
pub fn pair_key(from: Item, to: Item) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

/// `(from, to)` of a pair key.
pub fn pair_of(key: u64) -> (Item, Item) {
    ((key >> 32) as Item, key as Item)
}

impl Counts {
    /// `N_item += weight`.
    pub fn add_item(&mut self, item: Item, weight: f64) {
        *self.items.entry(item).or_default() += weight;
    }

    /// `C[from][to] += weight`.
    pub fn add_pair(&mut self, pair: PairIncrement) {
        *self.pairs.entry(pair_key(pair.from, pair.to)).or_default() += pair.weight;
    }

    /// `C[from][to]`.
    pub fn pair(&self, from: Item, to: Item) -> f64 {
        self.pairs.get(&pair_key(from, to)).copied().unwrap_or(0.0)
    }

    /// Adds every count of `other` to this one (a flush merging into the total).
    pub fn merge(&mut self, other: &Counts) {
        for (&item, &n) in &other.items {
            *self.items.entry(item).or_default() += n;
        }
        for (&key, &c) in &other.pairs {
            *self.pairs.entry(key).or_default() += c;
        }
    }

    /// Rows `from → [(to, C)]`.
    pub fn rows(&self) -> FxHashMap<Item, Vec<(Item, f64)>> {
        let mut rows: FxHashMap<Item, Vec<(Item, f64)>> = FxHashMap::default();
        for (&key, &c) in &self.pairs {
            let (from, to) = pair_of(key);
            rows.entry(from).or_default().push((to, c));
        }
        rows
    }

    /// Every item's neighbours (the evaluator's whole model).
    pub fn all_neighbours(&self, params: &ModelParams) -> FxHashMap<Item, Vec<(Item, f64)>> {
        let norms = Norms::new(&self.items, params);
        self.rows()
            .into_iter()
            .map(|(i, row)| (i, neighbours(i, &row, &norms, params)))
            .collect()
    }
}

/// `(N^alpha, N^(1-alpha))` of every item, computed once instead of per pair.
pub struct Norms(FxHashMap<Item, (f64, f64)>);

impl Norms {
    pub fn new(items: &FxHashMap<Item, f64>, params: &ModelParams) -> Self {
        Self(
            items
                .iter()
                .map(|(&i, &n)| (i, (n.powf(params.alpha), n.powf(1.0 - params.alpha))))
                .collect(),
        )
    }

    /// `sim(i, j) = (C_ij / (N_i^alpha · N_j^(1-alpha)))^sharpen`, 0 when undefined.
    pub fn similarity(&self, i: Item, j: Item, c_ij: f64, params: &ModelParams) -> f64 {
        match (self.0.get(&i), self.0.get(&j)) {
            (Some(&(from, _)), Some(&(_, to))) => similarity(c_ij, from, to, params),
            _ => 0.0,
        }
    }
}

/// `(c / (from · to))^sharpen` for `from = N_i^alpha`, `to = N_j^(1-alpha)`; 0 when undefined.
/// The one formula of every similarity, offline and in the service.
pub fn similarity(c_ij: f64, from: f64, to: f64, params: &ModelParams) -> f64 {
    if c_ij > 0.0 && from > 0.0 && to > 0.0 {
        let s = c_ij / (from * to);
        if params.sharpen == 1.0 {
            s
        } else {
            s.powf(params.sharpen)
        }
    } else {
        0.0
    }
}

/// Turns the counts row of `item` into its neighbours: the `params.neighbours` most similar
/// (all if 0; ties by item), in no particular order ([`top`] sorts them when order matters).
pub fn neighbours(item: Item, row: &[(Item, f64)], norms: &Norms, params: &ModelParams) -> Vec<(Item, f64)> {
    let mut out: Vec<(Item, f64)> = row
        .iter()
        .filter_map(|&(j, c)| {
            let s = norms.similarity(item, j, c, params);
            (s > 0.0).then_some((j, s))
        })
        .collect();
    keep_best(&mut out, params.neighbours);
    out
}

/// Keeps the best `k` of `items` (all if `k` is 0), in no particular order. Scoring needs no
/// order: a candidate appears once per neighbour list, so its score sums the same terms in the
/// same order (by history item) whatever the order inside each list; sorting every list was
/// most of the cost of building neighbour lists.
pub fn keep_best(items: &mut Vec<(Item, f64)>, k: usize) {
    if k > 0 && items.len() > k {
        items.select_nth_unstable_by(k - 1, rank);
        items.truncate(k);
    }
}

/// Best first: higher score, then smaller item (deterministic ties).
pub fn rank(a: &(Item, f64), b: &(Item, f64)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// Keeps the best `k` of `items` (all if `k` is 0), sorted best first.
pub fn top(items: &mut Vec<(Item, f64)>, k: usize) {
    keep_best(items, k);
    items.sort_unstable_by(rank);
}

/// One scored candidate and the history item that contributed most to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub item: Item,
    pub score: f64,
    /// The user's item whose similarity contributed most (the "similar to" reason).
    pub because: Item,
}

/// Reusable scoring buffers, dense over item indices (the service interns product ids densely).
#[derive(Debug, Default)]
pub struct Scratch {
    score: Vec<f64>,
    /// The long-term score (only with `long_weight > 0`).
    long: Vec<f64>,
    best: Vec<(Item, f64)>,
    touched: Vec<Item>,
}

impl Scratch {
    fn grow(&mut self, item: Item) {
        let needed = item as usize + 1;
        if self.score.len() < needed {
            self.score.resize(needed, 0.0);
            self.long.resize(needed, 0.0);
            self.best.resize(needed, (Item::MAX, 0.0));
        }
    }
}

/// Scores candidates for a user from their most recent items `history` (`(item, distance from
/// the latest position, strength)`, most recent first), skipping `excluded` items; returns the
/// best `k`. Short-term: `short(j) = Σ strength(i) · history_decay^distance(i) · sim(i, j)` over
/// the `history_limit` most recent items. With `long_weight > 0`, long-term evidence too:
/// `long(j)` the same sum with `long_history_decay` over the `long_history_limit` most recent,
/// and `score(j) = (1 - w) · short(j) / max short + w · long(j) / max long` (each score scaled
/// by its best candidate's, so neither dominates by its magnitude alone).
pub fn score<'a, H, N, E>(
    history: H,
    neighbours: N,
    excluded: E,
    k: usize,
    params: &ModelParams,
    scratch: &mut Scratch,
) -> Vec<Scored>
where
    H: IntoIterator<Item = (Item, u32, f64)>,
    N: Fn(Item) -> Option<&'a [(Item, f64)]>,
    E: Fn(Item) -> bool,
{
    let blend = params.long_weight > 0.0;
    let (short_limit, long_limit) = if blend {
        (params.history_limit, params.long_history_limit)
    } else {
        (params.history_limit, 0)
    };
    for (rank, (i, distance, strength)) in history.into_iter().enumerate() {
        let short = if rank < short_limit {
            strength * params.history_decay.powi(distance as i32)
        } else {
            0.0
        };
        let long = if rank < long_limit {
            strength * params.long_history_decay.powi(distance as i32)
        } else {
            0.0
        };
        if short == 0.0 && long == 0.0 {
            if rank >= short_limit.max(long_limit) {
                break;
            }
            continue;
        }
        let Some(row) = neighbours(i) else { continue };
        for &(j, sim) in row {
            scratch.grow(j);
            let slot = j as usize;
            if scratch.score[slot] == 0.0 && scratch.long[slot] == 0.0 {
                scratch.touched.push(j);
            }
            scratch.score[slot] += short * sim;
            scratch.long[slot] += long * sim;
            // The reason: the history item contributing most (short-term first, as shown).
            let contribution = (short + params.long_weight * long) * sim;
            let best = &mut scratch.best[slot];
            if contribution > best.1 || (contribution == best.1 && i < best.0) {
                *best = (i, contribution);
            }
        }
    }
    if blend {
        blend_scores(scratch, params.long_weight);
    }
    // Exclusions are checked once per candidate, not once per contribution.
    let mut ranked: Vec<(Item, f64)> = scratch
        .touched
        .iter()
        .filter(|&&j| !excluded(j))
        .map(|&j| (j, scratch.score[j as usize]))
        .collect();
    top(&mut ranked, k);
    let scored = ranked
        .into_iter()
        .map(|(item, score)| Scored {
            item,
            score,
            because: scratch.best[item as usize].0,
        })
        .collect();
    for j in scratch.touched.drain(..) {
        scratch.score[j as usize] = 0.0;
        scratch.long[j as usize] = 0.0;
        scratch.best[j as usize] = (Item::MAX, 0.0);
    }
    scored
}

/// `score = (1 - w) · short / max short + w · long / max long` over the touched candidates.
fn blend_scores(scratch: &mut Scratch, w: f64) {
    let max = |values: &[f64]| {
        scratch
            .touched
            .iter()
            .map(|&j| values[j as usize])
            .fold(0.0_f64, f64::max)
    };
    let (short_max, long_max) = (max(&scratch.score), max(&scratch.long));
    for &j in &scratch.touched {
        let slot = j as usize;
        let short = if short_max > 0.0 {
            scratch.score[slot] / short_max
        } else {
            0.0
        };
        let long = if long_max > 0.0 {
            scratch.long[slot] / long_max
        } else {
            0.0
        };
        scratch.score[slot] = (1.0 - w) * short + w * long;
    }
}

/// The `k` most popular items (by `N`) not `excluded`, best first.
pub fn most_popular<E: Fn(Item) -> bool>(
    popularity: &[(Item, f64)],
    excluded: E,
    k: usize,
) -> Vec<(Item, f64)> {
    popularity
        .iter()
        .filter(|(i, _)| !excluded(*i))
        .take(k)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_similarity_of_binary_counts() {
        let params = ModelParams::plain_cosine();
        let items: FxHashMap<Item, f64> = [(1, 4.0), (2, 1.0)].into_iter().collect();
        let norms = Norms::new(&items, &params);
        assert!((norms.similarity(1, 2, 2.0, &params) - 1.0).abs() < 1e-12);
        assert_eq!(norms.similarity(1, 2, 0.0, &params), 0.0);
        assert_eq!(norms.similarity(1, 3, 1.0, &params), 0.0);
        let asymmetric = ModelParams { alpha: 1.0, ..params };
        assert!((Norms::new(&items, &asymmetric).similarity(1, 2, 2.0, &asymmetric) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn top_breaks_ties_by_item() {
        let mut items = vec![(5, 1.0), (3, 1.0), (9, 2.0), (1, 0.5)];
        top(&mut items, 3);
        assert_eq!(items, vec![(9, 2.0), (3, 1.0), (5, 1.0)]);
    }

    #[test]
    fn scores_sum_weighted_similarities_and_skip_excluded_items() {
        let params = ModelParams {
            history_decay: 0.5,
            ..ModelParams::plain_cosine()
        };
        let rows: FxHashMap<Item, Vec<(Item, f64)>> =
            [(1, vec![(3, 1.0), (4, 0.2)]), (2, vec![(3, 0.4), (5, 1.0)])]
                .into_iter()
                .collect();
        // 1 is the latest item (distance 0), 2 one position before (weight 0.5).
        let mut scratch = Scratch::default();
        let scored = score(
            [(1, 0, 1.0), (2, 1, 1.0)],
            |i| rows.get(&i).map(Vec::as_slice),
            |j| j == 5,
            10,
            &params,
            &mut scratch,
        );
        let got: Vec<(Item, f64, Item)> = scored.iter().map(|s| (s.item, s.score, s.because)).collect();
        assert_eq!(got, vec![(3, 1.2, 1), (4, 0.2, 1)]);
    }
}
