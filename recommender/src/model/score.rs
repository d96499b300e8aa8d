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

    /// Adds history item `i`'s evidence for candidate `j`.
    fn add(&mut self, j: Item, i: Item, short: f64, long: f64, share: f64) {
        self.grow(j);
        let slot = j as usize;
        if self.score[slot] == 0.0 && self.long[slot] == 0.0 {
            self.touched.push(j);
        }
        self.score[slot] += short;
        self.long[slot] += long;
        // The reason: the history item contributing most.
        let contribution = short + share * long;
        let best = &mut self.best[slot];
        if contribution > best.1 || (contribution == best.1 && i < best.0) {
            *best = (i, contribution);
        }
    }

    /// Clears what the last user touched.
    fn reset(&mut self) {
        for j in self.touched.drain(..) {
            self.score[j as usize] = 0.0;
            self.long[j as usize] = 0.0;
            self.best[j as usize] = (Item::MAX, 0.0);
        }
    }

    /// `score = (1 - w) · short / max short + w · long / max long` over the touched candidates.
    fn blend(&mut self, w: f64) {
        let max = |values: &[f64]| {
            self.touched
                .iter()
                .map(|&j| values[j as usize])
                .fold(0.0_f64, f64::max)
        };
        let (short_max, long_max) = (max(&self.score), max(&self.long));
        let scaled = |value: f64, max: f64| if max > 0.0 { value / max } else { 0.0 };
        for &j in &self.touched {
            let slot = j as usize;
            let (short, long) = (self.score[slot], self.long[slot]);
            self.score[slot] = (1.0 - w) * scaled(short, short_max) + w * scaled(long, long_max);
        }
    }
}

/// What scoring reads of the global model.
pub trait Neighbourhood {
    /// The most similar items to `item` with their similarities, if it has any.
    fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]>;
    /// The neighbours the long-term score reads (the `long_neighbours` most similar).
    fn long_neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        self.neighbours(item)
    }
    /// The long-term score's popularity factor of candidate `item`: `N^long_popularity`.
    fn boost(&self, item: Item) -> f64;
}

/// `item`'s list for the long-term score: its shorter copy in `long` (see [`long_lists`]), or
/// its whole list in `all` when no shorter copies were made (`long` empty).
pub fn long_or_all<'a>(
    long: &'a FxHashMap<Item, Vec<(Item, f64)>>,
    all: &'a FxHashMap<Item, Vec<(Item, f64)>>,
    item: Item,
) -> Option<&'a [(Item, f64)]> {
    let lists = if long.is_empty() { all } else { long };
    lists.get(&item).map(Vec::as_slice)
}

/// The long-term score's lists: the `params.long_neighbours` most similar of each neighbour
/// list (none when the long-term score reads the whole lists).
pub fn long_lists<'a>(
    lists: impl Iterator<Item = (Item, &'a [(Item, f64)])>,
    params: &ModelParams,
) -> FxHashMap<Item, Vec<(Item, f64)>> {
    if params.long_neighbours == 0 || params.long_weight <= 0.0 {
        return FxHashMap::default();
    }
    lists
        .map(|(item, list)| {
            let mut best = list.to_vec();
            keep_best(&mut best, params.long_neighbours);
            (item, best)
        })
        .collect()
}

/// `N^exponent` of every item, dense over item numbers (1 where there is no count, or for a 0
/// exponent): the long-term popularity factor, computed once per model version.
pub fn boosts(counts: impl Iterator<Item = (Item, f64)>, exponent: f64) -> Vec<f64> {
    let mut out = Vec::new();
    if exponent == 0.0 {
        return out;
    }
    for (item, n) in counts {
        let slot = item as usize;
        if out.len() <= slot {
            out.resize(slot + 1, 1.0);
        }
        if n > 0.0 {
            out[slot] = n.powf(exponent);
        }
    }
    out
}

/// Scores candidates for a user from their most recent items `history` (`(item, distance from
/// the latest position, strength)`, most recent first), skipping `excluded` items; returns the
/// best `k`. Short-term: `short(j) = Σ strength(i) · history_decay^distance(i) · sim(i, j)` over
/// the `history_limit` most recent items. With a long-term share `w > 0` (see
/// [`ModelParams::long_share`]), long-term evidence too: `long(j) = Σ strength(i) · sim(i, j)`
/// over the `long_history_limit` most recent, and
/// `score(j) = (1 - w) · short(j) / max short + w · long(j) / max long` (each scaled by its best
/// candidate's, so neither dominates by its magnitude alone), where `long(j)` is multiplied by
/// the candidate's popularity factor `N_j^long_popularity` first. The cost is one neighbour list
/// per history item read: at most `max(history_limit, long_history_limit)`.
pub fn score<H, M, E>(
    history: H,
    long_share: f64,
    model: &M,
    excluded: E,
    k: usize,
    params: &ModelParams,
    scratch: &mut Scratch,
) -> Vec<Scored>
where
    H: IntoIterator<Item = (Item, u32, f64)>,
    M: Neighbourhood + ?Sized,
    E: Fn(Item) -> bool,
{
    let blend = long_share > 0.0;
    let long_limit = if blend { params.long_history_limit } else { 0 };
    let limit = params.history_limit.max(long_limit);
    for (rank, (i, distance, strength)) in history.into_iter().take(limit).enumerate() {
        let short = if rank < params.history_limit {
            strength * params.history_decay.powi(distance as i32)
        } else {
            0.0
        };
        let long = if rank < long_limit { strength } else { 0.0 };
        if short == 0.0 && long == 0.0 {
            continue;
        }
        if params.long_neighbours == 0 {
            // One list serves both scores: one pass.
            for &(j, sim) in model.neighbours(i).unwrap_or_default() {
                scratch.add(j, i, short * sim, long * sim, long_share);
            }
            continue;
        }
        if short > 0.0 {
            for &(j, sim) in model.neighbours(i).unwrap_or_default() {
                scratch.add(j, i, short * sim, 0.0, long_share);
            }
        }
        if long > 0.0 {
            for &(j, sim) in model.long_neighbours(i).unwrap_or_default() {
                scratch.add(j, i, 0.0, long * sim, long_share);
            }
        }
    }
    if blend {
        if params.long_popularity != 0.0 {
            for &j in &scratch.touched {
                scratch.long[j as usize] *= model.boost(j);
            }
        }
        scratch.blend(long_share);
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
    scratch.reset();
    scored
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

    /// Neighbour rows without popularity factors.
    struct Rows(FxHashMap<Item, Vec<(Item, f64)>>);

    impl Neighbourhood for Rows {
        fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
            self.0.get(&item).map(Vec::as_slice)
        }

        fn boost(&self, _: Item) -> f64 {
            1.0
        }
    }

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
        let rows = Rows(
            [(1, vec![(3, 1.0), (4, 0.2)]), (2, vec![(3, 0.4), (5, 1.0)])]
                .into_iter()
                .collect(),
        );
        // 1 is the latest item (distance 0), 2 one position before (weight 0.5).
        let mut scratch = Scratch::default();
        let scored = score(
            [(1, 0, 1.0), (2, 1, 1.0)],
            0.0,
            &rows,
            |j| j == 5,
            10,
            &params,
            &mut scratch,
        );
        let got: Vec<(Item, f64, Item)> = scored.iter().map(|s| (s.item, s.score, s.because)).collect();
        assert_eq!(got, vec![(3, 1.2, 1), (4, 0.2, 1)]);
    }

    /// Neighbour rows with popularity factors.
    struct Boosted(FxHashMap<Item, Vec<(Item, f64)>>, FxHashMap<Item, f64>);

    impl Neighbourhood for Boosted {
        fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
            self.0.get(&item).map(Vec::as_slice)
        }

        fn boost(&self, item: Item) -> f64 {
            self.1.get(&item).copied().unwrap_or(1.0)
        }
    }

    #[test]
    fn a_long_term_share_blends_recent_and_whole_history_evidence_scaled_by_their_best() {
        let params = ModelParams {
            history_decay: 0.5,
            history_limit: 1,
            long_weight: 0.5,
            long_history_limit: 10,
            long_popularity: 1.0,
            ..ModelParams::plain_cosine()
        };
        // 1 is the latest item; 2 an old one. Short-term: only 1 (limit 1) → 3: 1.0, 4: 0.5.
        // Long-term: 3: 1.0, 4: 0.5, 5: 1.0 (from 2), times N: 3 ×1, 4 ×4, 5 ×1 → 3: 1, 4: 2, 5: 1.
        let model = Boosted(
            [(1, vec![(3, 1.0), (4, 0.5)]), (2, vec![(5, 1.0)])]
                .into_iter()
                .collect(),
            [(3, 1.0), (4, 4.0), (5, 1.0)].into_iter().collect(),
        );
        let mut scratch = Scratch::default();
        let scored = score(
            [(1, 0, 1.0), (2, 7, 1.0)],
            0.5,
            &model,
            |_| false,
            10,
            &params,
            &mut scratch,
        );
        let got: Vec<(Item, f64, Item)> = scored.iter().map(|s| (s.item, s.score, s.because)).collect();
        // 4: 0.5 · 0.5/1 + 0.5 · 2/2 = 0.75; 3: 0.5 · 1 + 0.5 · 0.5 = 0.75 (tie: smaller item
        // first); 5: 0.5 · 0.5 = 0.25, because of the old item.
        assert_eq!(got, vec![(3, 0.75, 1), (4, 0.75, 1), (5, 0.25, 2)]);
        // Without a share the old item adds nothing.
        let short = score(
            [(1, 0, 1.0), (2, 7, 1.0)],
            0.0,
            &model,
            |_| false,
            10,
            &params,
            &mut scratch,
        );
        let got: Vec<Item> = short.iter().map(|s| s.item).collect();
        assert_eq!(got, vec![3, 4]);
    }

    #[test]
    fn the_long_term_score_reads_only_the_best_neighbours_when_told() {
        let params = ModelParams {
            history_limit: 0,
            long_weight: 1.0,
            long_history_limit: 10,
            long_neighbours: 1,
            ..ModelParams::plain_cosine()
        };
        let rows: FxHashMap<Item, Vec<(Item, f64)>> = [(1, vec![(3, 0.2), (4, 0.9)])].into_iter().collect();
        let long = long_lists(rows.iter().map(|(&i, l)| (i, l.as_slice())), &params);
        assert_eq!(long[&1], vec![(4, 0.9)]);
        /// Whole lists for the short-term score, `long` for the long-term one.
        struct Split(
            FxHashMap<Item, Vec<(Item, f64)>>,
            FxHashMap<Item, Vec<(Item, f64)>>,
        );
        impl Neighbourhood for Split {
            fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
                self.0.get(&item).map(Vec::as_slice)
            }
            fn long_neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
                self.1.get(&item).map(Vec::as_slice)
            }
            fn boost(&self, _: Item) -> f64 {
                1.0
            }
        }
        let mut scratch = Scratch::default();
        let scored = score(
            [(1, 0, 1.0)],
            1.0,
            &Split(rows, long),
            |_| false,
            10,
            &params,
            &mut scratch,
        );
        let got: Vec<(Item, f64)> = scored.iter().map(|s| (s.item, s.score)).collect();
        assert_eq!(got, vec![(4, 1.0)]);
        let off = ModelParams {
            long_weight: 0.0,
            ..params
        };
        assert!(long_lists(std::iter::empty(), &off).is_empty());
    }

    /// Straight from the formula in `score`'s documentation, with no buffers.
    fn reference(
        history: &[(Item, u32, f64)],
        share: f64,
        model: &Boosted,
        params: &ModelParams,
        k: usize,
    ) -> Vec<(Item, f64)> {
        let long_limit = if share > 0.0 { params.long_history_limit } else { 0 };
        let mut short: FxHashMap<Item, f64> = FxHashMap::default();
        let mut long: FxHashMap<Item, f64> = FxHashMap::default();
        for (rank, &(i, distance, strength)) in history.iter().enumerate() {
            for &(j, sim) in model.neighbours(i).unwrap_or_default() {
                let s = if rank < params.history_limit {
                    strength * params.history_decay.powi(distance as i32) * sim
                } else {
                    0.0
                };
                let l = if rank < long_limit { strength * sim } else { 0.0 };
                if s > 0.0 || l > 0.0 {
                    *short.entry(j).or_default() += s;
                    *long.entry(j).or_default() += l * model.boost(j);
                }
            }
        }
        let short_max = short.values().fold(0.0_f64, |a, &b| a.max(b));
        let long_max = long.values().fold(0.0_f64, |a, &b| a.max(b));
        let scaled = |v: f64, max: f64| if max > 0.0 { v / max } else { 0.0 };
        let mut out: Vec<(Item, f64)> = short
            .iter()
            .map(|(&j, &s)| {
                let score = if share > 0.0 {
                    (1.0 - share) * scaled(s, short_max) + share * scaled(long[&j], long_max)
                } else {
                    s
                };
                (j, score)
            })
            .collect();
        top(&mut out, k);
        out
    }

    proptest::proptest! {
        /// Scoring with buffers reused from user to user (as a flush does) gives what the
        /// formula gives for each user alone, for any history, share and popularity factors.
        #[test]
        fn scores_follow_the_formula_whatever_the_previous_user_left_in_the_buffers(
            rows in proptest::collection::vec(
                proptest::collection::vec((0u32..30, 1u32..100), 0..8), 30),
            counts in proptest::collection::vec(1u32..50, 30),
            users in proptest::collection::vec(
                (proptest::collection::vec((0u32..30, 1u32..4), 0..40), 0u32..4), 1..4),
        ) {
            let params = ModelParams {
                history_limit: 5,
                history_decay: 0.7,
                long_weight: 0.6,
                long_history_limit: 25,
                long_popularity: 0.2,
                ..ModelParams::plain_cosine()
            };
            let model = Boosted(
                rows.iter()
                    .enumerate()
                    .map(|(i, row)| {
                        let mut row: Vec<(Item, f64)> =
                            row.iter().map(|&(j, s)| (j, f64::from(s) / 100.0)).collect();
                        row.sort_by_key(|r| r.0);
                        row.dedup_by_key(|r| r.0);
                        (i as Item, row)
                    })
                    .collect(),
                counts.iter().enumerate().map(|(j, &n)| (j as Item, f64::from(n).powf(0.2))).collect(),
            );
            let mut scratch = Scratch::default();
            for (items, share) in users {
                // Distinct items, most recent first, one position apart.
                let mut history: Vec<(Item, u32, f64)> = Vec::new();
                for (item, strength) in items {
                    if !history.iter().any(|h| h.0 == item) {
                        history.push((item, history.len() as u32, f64::from(strength)));
                    }
                }
                let share = f64::from(share) * 0.2;
                let got: Vec<(Item, f64)> =
                    score(history.iter().copied(), share, &model, |_| false, 10, &params, &mut scratch)
                        .iter()
                        .map(|s| (s.item, s.score))
                        .collect();
                let expected = reference(&history, share, &model, &params, 10);
                proptest::prop_assert_eq!(got.len(), expected.len());
                for (g, e) in got.iter().zip(&expected) {
                    proptest::prop_assert!((g.1 - e.1).abs() < 1e-9, "{:?} vs {:?}", got, expected);
                }
            }
        }
    }
}
