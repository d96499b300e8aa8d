//! The global model state in memory: item counts `N`, decayed popularity and pair counts `C`,
//! summed over every partition's deltas, with the offset of each partition it covers.
//!
//! Every instance holds one. Deltas of a partition form a chain (each starts at the offset where
//! the previous one ended, which the fenced offset write in Postgres guarantees), so applying a
//! delta only when it starts at the replica's watermark for its partition applies each one
//! exactly once and in order, whether it arrives from this instance's own flush or from the
//! database. Pure and deterministic: no I/O here.
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::delta::Delta;
use super::score::{keep_best, similarity, Counts};
use super::sequence::PairIncrement;
use super::{popularity, Item, ModelParams};

/// Item numbers at or above this are refused (a replica is a dense vector over item numbers,
/// and product numbers come from a sequence: a larger one is a corrupt record).
pub const MAX_ITEMS: Item = 1 << 26;

/// One item's counts and its row `C[item][*]`.
#[derive(Debug, Clone)]
struct ItemState {
    n: f64,
    /// A logarithm (see [`popularity`]).
    popularity: f64,
    /// `N^alpha`, `N^(1-alpha)`, kept with `N` (not one `powf` per pair when scoring).
    from_norm: f64,
    to_norm: f64,
    row: FxHashMap<Item, f64>,
    /// The replica version that last changed the row.
    row_version: u64,
}

impl Default for ItemState {
    fn default() -> Self {
        Self {
            n: 0.0,
            popularity: popularity::NONE,
            from_norm: 0.0,
            to_norm: 0.0,
            row: FxHashMap::default(),
            row_version: 0,
        }
    }
}

/// What applying a delta did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The watermark is already past it.
    AlreadyApplied,
}

/// Why a delta was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The delta does not start where the replica stands: earlier ones are missing.
    #[error("partition {partition}: the delta starts at {base:?}, the replica stands at {watermark:?}")]
    Gap {
        partition: i32,
        watermark: Option<i64>,
        base: Option<i64>,
    },
    #[error("item number {0} is out of range")]
    ItemOutOfRange(Item),
}

/// Size figures for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub items: usize,
    pub pairs: usize,
    /// Heap bytes held (capacities, so what the process really holds).
    pub bytes: usize,
}

/// The replica.
#[derive(Debug, Clone)]
pub struct Replica {
    alpha: f64,
    items: Vec<ItemState>,
    watermarks: BTreeMap<i32, i64>,
    version: u64,
    pairs: usize,
}

/// A flush's own delta laid over the replica before it is committed: lists built in the
/// flush see the counts as they will be once it is applied.
pub struct Overlay<'a> {
    /// `(N^alpha, N^(1-alpha))` of the items whose `N` the delta changes, as they will be.
    norms: FxHashMap<Item, (f64, f64)>,
    /// One bit per item: its `N` changes (tested before the map, once per row entry).
    changed: Vec<u64>,
    rows: FxHashMap<Item, &'a [(Item, f64)]>,
}

impl<'a> Overlay<'a> {
    /// The overlay of `delta` on `replica` (norms computed once here, not per pair).
    pub fn new(delta: &'a Delta, replica: &Replica) -> Self {
        let mut changed = Vec::new();
        let mut norms = FxHashMap::default();
        for &(item, dn) in &delta.items {
            let n = replica.n(item) + dn;
            norms.insert(item, (n.powf(replica.alpha), n.powf(1.0 - replica.alpha)));
            let word = item as usize / 64;
            if changed.len() <= word {
                changed.resize(word + 1, 0u64);
            }
            changed[word] |= 1 << (item % 64);
        }
        Self {
            norms,
            changed,
            rows: delta.rows.iter().map(|(i, row)| (*i, row.as_slice())).collect(),
        }
    }

    /// The new norms of `item`, if the delta changes its `N`.
    fn norms(&self, item: Item) -> Option<(f64, f64)> {
        let word = self.changed.get(item as usize / 64)?;
        if word & (1 << (item % 64)) == 0 {
            return None;
        }
        self.norms.get(&item).copied()
    }
}

impl Replica {
    /// An empty replica for these parameters (`alpha` shapes the kept norms).
    pub fn new(params: &ModelParams) -> Self {
        Self {
            alpha: params.alpha,
            items: Vec::new(),
            watermarks: BTreeMap::new(),
            version: 0,
            pairs: 0,
        }
    }

    /// A replica holding `chunks` (a snapshot's totals) at these watermarks.
    pub fn from_chunks<'a>(
        params: &ModelParams,
        chunks: impl IntoIterator<Item = &'a Delta>,
        watermarks: BTreeMap<i32, i64>,
    ) -> Result<Self, ApplyError> {
        let mut replica = Self::new(params);
        for chunk in chunks {
            replica.add_chunk(chunk)?;
        }
        replica.set_watermarks(watermarks);
        Ok(replica)
    }

    /// Adds a snapshot chunk (no watermark involved: see [`Replica::set_watermarks`]).
    pub fn add_chunk(&mut self, chunk: &Delta) -> Result<(), ApplyError> {
        self.add(chunk)
    }

    /// The watermarks of the snapshot whose chunks were added.
    pub fn set_watermarks(&mut self, watermarks: BTreeMap<i32, i64>) {
        self.watermarks = watermarks;
    }

    /// Makes this replica's version, and every row's, newer than `previous` (a reloaded
    /// replica replacing one whose versions callers may have cached).
    pub fn renumber(&mut self, previous: u64) {
        self.version = self.version.max(previous) + 1;
        for state in &mut self.items {
            state.row_version = self.version;
        }
    }

    /// Applies a partition's delta covering offsets `[base, next)` (`base` is `None` for the
    /// partition's first): only if it starts at the watermark, and not twice.
    pub fn apply(
        &mut self,
        partition: i32,
        base: Option<i64>,
        next: i64,
        delta: &Delta,
    ) -> Result<Applied, ApplyError> {
        let watermark = self.watermarks.get(&partition).copied();
        if watermark.is_some_and(|w| w >= next) {
            return Ok(Applied::AlreadyApplied);
        }
        if watermark != base {
            return Err(ApplyError::Gap {
                partition,
                watermark,
                base,
            });
        }
        self.add(delta)?;
        self.watermarks.insert(partition, next);
        Ok(Applied::Applied)
    }

    /// Adds every increment of `delta`, or nothing if an item is out of range.
    fn add(&mut self, delta: &Delta) -> Result<(), ApplyError> {
        let largest = delta
            .items
            .iter()
            .chain(&delta.popularity)
            .map(|(i, _)| *i)
            .chain(
                delta
                    .rows
                    .iter()
                    .flat_map(|(i, row)| std::iter::once(*i).chain(row.iter().map(|(j, _)| *j))),
            )
            .max();
        let Some(largest) = largest else {
            self.version += 1;
            return Ok(());
        };
        if largest >= MAX_ITEMS {
            return Err(ApplyError::ItemOutOfRange(largest));
        }
        if self.items.len() <= largest as usize {
            self.items.resize_with(largest as usize + 1, ItemState::default);
        }
        self.version += 1;
        let alpha = self.alpha;
        for &(item, n) in &delta.items {
            let state = &mut self.items[item as usize];
            state.n += n;
            state.from_norm = state.n.powf(alpha);
            state.to_norm = state.n.powf(1.0 - alpha);
        }
        for &(item, p) in &delta.popularity {
            let state = &mut self.items[item as usize];
            state.popularity = popularity::add(state.popularity, p);
        }
        for (from, row) in &delta.rows {
            let state = &mut self.items[*from as usize];
            state.row.reserve(row.len());
            for &(to, w) in row {
                match state.row.entry(to) {
                    std::collections::hash_map::Entry::Occupied(mut e) => *e.get_mut() += w,
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(w);
                        self.pairs += 1;
                    }
                }
            }
            state.row_version = self.version;
        }
        Ok(())
    }

    /// The offset up to which a partition's deltas are applied.
    pub fn watermark(&self, partition: i32) -> Option<i64> {
        self.watermarks.get(&partition).copied()
    }

    /// Every partition's watermark.
    pub fn watermarks(&self) -> &BTreeMap<i32, i64> {
        &self.watermarks
    }

    /// Grows with every applied delta.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The version that last changed an item's row (0: never).
    pub fn row_version(&self, item: Item) -> u64 {
        self.items.get(item as usize).map_or(0, |s| s.row_version)
    }

    /// `N` of an item.
    pub fn n(&self, item: Item) -> f64 {
        self.items.get(item as usize).map_or(0.0, |s| s.n)
    }

    /// Decayed popularity of an item, as a logarithm ([`popularity::NONE`] for none).
    pub fn popularity(&self, item: Item) -> f64 {
        self.items
            .get(item as usize)
            .map_or(popularity::NONE, |s| s.popularity)
    }

    /// `C[from][to]`.
    pub fn pair(&self, from: Item, to: Item) -> f64 {
        self.items
            .get(from as usize)
            .and_then(|s| s.row.get(&to))
            .copied()
            .unwrap_or(0.0)
    }

    /// Items anyone interacted with (`N > 0`) and their `N`.
    pub fn counts_n(&self) -> impl Iterator<Item = (Item, f64)> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, s)| s.n > 0.0)
            .map(|(i, s)| (i as Item, s.n))
    }

    /// Items anyone interacted with (`N > 0`) and their popularity.
    pub fn popular(&self) -> impl Iterator<Item = (Item, f64)> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, s)| s.n > 0.0)
            .map(|(i, s)| (i as Item, s.popularity))
    }

    /// The most similar items to `item` (at most `params.neighbours` unless 0, in no particular
    /// order), with `overlay`'s increments added when given.
    pub fn neighbours(
        &self,
        item: Item,
        overlay: Option<&Overlay<'_>>,
        params: &ModelParams,
    ) -> Vec<(Item, f64)> {
        let state = self.items.get(item as usize);
        let from = match overlay.and_then(|o| o.norms(item)) {
            Some((from, _)) => from,
            None => state.map_or(0.0, |s| s.from_norm),
        };
        let to = |j: Item| match overlay.and_then(|o| o.norms(j)) {
            Some((_, to)) => to,
            None => self.items.get(j as usize).map_or(0.0, |s| s.to_norm),
        };
        let empty = FxHashMap::default();
        let row = state.map_or(&empty, |s| &s.row);
        // The delta's increments of this row, sorted by item.
        let extra = overlay
            .and_then(|o| o.rows.get(&item).copied())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(row.len() + extra.len());
        for (&j, &c) in row {
            let c = if extra.is_empty() {
                c
            } else {
                match extra.binary_search_by_key(&j, |(k, _)| *k) {
                    Ok(at) => c + extra[at].1,
                    Err(_) => c,
                }
            };
            let s = similarity(c, from, to(j), params);
            if s > 0.0 {
                out.push((j, s));
            }
        }
        for &(j, w) in extra {
            if !row.contains_key(&j) {
                let s = similarity(w, from, to(j), params);
                if s > 0.0 {
                    out.push((j, s));
                }
            }
        }
        keep_best(&mut out, params.neighbours);
        out
    }

    /// The whole state as chunks of at most about `pairs_per_chunk` pairs (a snapshot):
    /// [`Replica::from_chunks`] of them is this replica.
    pub fn chunks(&self, pairs_per_chunk: usize) -> Vec<Delta> {
        let mut chunks = Vec::new();
        let mut chunk = Delta::default();
        let mut size = 0;
        for (item, state) in self.items.iter().enumerate() {
            let item = item as Item;
            if state.n != 0.0 {
                chunk.items.push((item, state.n));
            }
            if state.popularity != popularity::NONE {
                chunk.popularity.push((item, state.popularity));
            }
            if !state.row.is_empty() {
                let mut row: Vec<(Item, f64)> = state.row.iter().map(|(&j, &c)| (j, c)).collect();
                row.sort_unstable_by_key(|(j, _)| *j);
                size += row.len();
                chunk.rows.push((item, row));
            }
            if size >= pairs_per_chunk.max(1) {
                chunks.push(std::mem::take(&mut chunk));
                size = 0;
            }
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        chunks
    }

    /// `N` and `C` as plain counts (tests compare them with a batch computation).
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (item, state) in self.items.iter().enumerate() {
            let item = item as Item;
            if state.n != 0.0 {
                counts.add_item(item, state.n);
            }
            for (&to, &weight) in &state.row {
                counts.add_pair(PairIncrement {
                    from: item,
                    to,
                    weight,
                });
            }
        }
        counts
    }

    /// Size figures.
    pub fn stats(&self) -> Stats {
        let slot = std::mem::size_of::<(Item, f64)>() + 1;
        let rows: usize = self.items.iter().map(|s| s.row.capacity() * slot).sum();
        Stats {
            items: self.items.iter().filter(|s| s.n > 0.0).count(),
            pairs: self.pairs,
            bytes: self.items.capacity() * std::mem::size_of::<ItemState>() + rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rustc_hash::FxHashMap;

    use super::*;
    use crate::model::score::{Counts, Norms};

    fn delta(pairs: &[(Item, Item, f64)], items: &[(Item, f64)]) -> Delta {
        let mut counts = Counts::default();
        for &(from, to, weight) in pairs {
            counts.add_pair(PairIncrement { from, to, weight });
        }
        for &(item, n) in items {
            counts.add_item(item, n);
        }
        let popularity: FxHashMap<Item, f64> = items.iter().copied().collect();
        Delta::new(&counts, &popularity)
    }

    #[test]
    fn deltas_apply_once_and_in_chain_order() {
        let params = ModelParams::default();
        let mut replica = Replica::new(&params);
        let first = delta(&[(1, 2, 1.0)], &[(1, 1.0), (2, 1.0)]);
        let second = delta(&[(1, 2, 0.5)], &[]);
        assert_eq!(
            replica.apply(0, Some(5), 9, &second),
            Err(ApplyError::Gap {
                partition: 0,
                watermark: None,
                base: Some(5)
            })
        );
        assert_eq!(replica.apply(0, None, 5, &first), Ok(Applied::Applied));
        assert_eq!(replica.apply(0, None, 5, &first), Ok(Applied::AlreadyApplied));
        assert_eq!(replica.apply(0, Some(5), 9, &second), Ok(Applied::Applied));
        assert_eq!(replica.apply(0, Some(5), 9, &second), Ok(Applied::AlreadyApplied));
        assert_eq!(replica.pair(1, 2), 1.5);
        assert_eq!(replica.n(1), 1.0);
        assert_eq!(replica.watermark(0), Some(9));
        assert_eq!(replica.stats().pairs, 1);
        // Another partition's chain is independent.
        assert_eq!(replica.apply(3, None, 1, &second), Ok(Applied::Applied));
        assert_eq!(replica.pair(1, 2), 2.0);
    }

    #[test]
    fn an_out_of_range_item_changes_nothing() {
        let mut replica = Replica::new(&ModelParams::default());
        let bad = delta(&[(1, MAX_ITEMS, 1.0)], &[(1, 1.0)]);
        assert_eq!(
            replica.apply(0, None, 1, &bad),
            Err(ApplyError::ItemOutOfRange(MAX_ITEMS))
        );
        assert_eq!(replica.n(1), 0.0);
        assert_eq!(replica.watermark(0), None);
    }

    #[test]
    fn neighbours_with_an_overlay_equal_neighbours_after_applying_it() {
        let params = ModelParams {
            neighbours: 2,
            ..ModelParams::default()
        };
        let mut replica = Replica::new(&params);
        let first = delta(
            &[(1, 2, 1.0), (1, 3, 2.0), (2, 1, 1.0)],
            &[(1, 2.0), (2, 1.0), (3, 1.0)],
        );
        replica.apply(0, None, 1, &first).unwrap();
        let own = delta(&[(1, 4, 3.0), (1, 2, 1.0)], &[(4, 1.0), (1, 1.0)]);
        let mut with_overlay = replica.neighbours(1, Some(&Overlay::new(&own, &replica)), &params);
        replica.apply(1, None, 1, &own).unwrap();
        let mut applied = replica.neighbours(1, None, &params);
        with_overlay.sort_unstable_by(crate::model::score::rank);
        applied.sort_unstable_by(crate::model::score::rank);
        assert_eq!(with_overlay, applied);
        assert_eq!(with_overlay.len(), 2);
    }

    proptest! {
        /// The replica's neighbours are the offline model's (`Counts::all_neighbours`), whatever
        /// the split of the increments into deltas and partitions.
        #[test]
        fn the_replica_agrees_with_the_batch_counts(
            increments in prop::collection::vec((0u32..12, 0u32..12, 0u32..4, 0usize..3), 1..120),
            chunk in 1usize..40,
        ) {
            let params = ModelParams { neighbours: 5, ..ModelParams::default() };
            let mut total = Counts::default();
            let mut replica = Replica::new(&params);
            let mut pending: Vec<Counts> = vec![Counts::default(); 3];
            let mut offsets = [None; 3];
            for (k, &(from, to, weight, partition)) in increments.iter().enumerate() {
                let increment = PairIncrement { from, to, weight: f64::from(weight) / 4.0 + 0.25 };
                total.add_pair(increment);
                total.add_item(from, 1.0);
                pending[partition].add_pair(increment);
                pending[partition].add_item(from, 1.0);
                if k % chunk == 0 {
                    let batch = std::mem::take(&mut pending[partition]);
                    let next = k as i64 + 1;
                    let delta = Delta::new(&batch, &FxHashMap::default());
                    prop_assert_eq!(replica.apply(partition as i32, offsets[partition], next, &delta), Ok(Applied::Applied));
                    offsets[partition] = Some(next);
                }
            }
            for (partition, batch) in pending.iter().enumerate() {
                let delta = Delta::new(batch, &FxHashMap::default());
                replica.apply(partition as i32, offsets[partition], 1_000, &delta).unwrap();
            }
            let norms = Norms::new(&total.items, &params);
            let rows = total.rows();
            for item in 0..12 {
                let row = rows.get(&item).cloned().unwrap_or_default();
                let mut expected = crate::model::score::neighbours(item, &row, &norms, &params);
                let mut got = replica.neighbours(item, None, &params);
                expected.sort_unstable_by(crate::model::score::rank);
                got.sort_unstable_by(crate::model::score::rank);
                prop_assert_eq!(got.len(), expected.len());
                for ((j, s), (k, t)) in got.iter().zip(&expected) {
                    prop_assert_eq!(j, k);
                    prop_assert!((s - t).abs() < 1e-12);
                }
            }
            // A snapshot of it is the same state.
            let chunks = replica.chunks(7);
            let restored = Replica::from_chunks(&params, &chunks, replica.watermarks().clone()).unwrap();
            prop_assert_eq!(restored.counts(), replica.counts());
            prop_assert_eq!(restored.watermarks(), replica.watermarks());
        }
    }
}
