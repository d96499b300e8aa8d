//! One user's interaction sequence and the co-interaction increments each new item creates.
use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{Item, ModelParams};

/// One increment of the directional co-interaction count `C[from][to]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairIncrement {
    pub from: Item,
    pub to: Item,
    pub weight: f64,
}

/// A user's sequence: positions advance with each new timestamp (equal timestamps share a
/// position: a live stream gives simultaneous events no meaningful order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSequence {
    /// Position of the latest interaction (0 before the first).
    pub position: u32,
    /// Timestamp (ms) of the latest interaction.
    pub last_time: i64,
    /// Distinct items, least recent first: `(item, position last touched, strength)`, where
    /// the strength is the strongest action weight the user gave the item.
    pub recent: VecDeque<(Item, u32, f64)>,
    /// Every item the user has interacted with (a pair forms at the first interaction only),
    /// with the kinds of action already counted in its popularity (bit `Interaction::kind`):
    /// a user's repeats of one action on one item count once.
    pub seen: FxHashMap<Item, u8>,
    /// Items never to recommend to this user (e.g. purchased ones).
    pub excluded: FxHashSet<Item>,
}

impl UserSequence {
    /// Applies one interaction. For an item new to the user, appends the co-interaction
    /// increments with the user's earlier items within the window to `out`; a repeat only moves
    /// the item to the most recent place (keeping its strongest weight).
    pub fn observe(
        &mut self,
        interaction: Interaction,
        weights: &PairWeights,
        out: &mut Vec<PairIncrement>,
    ) -> Observed {
        let Interaction {
            item,
            time,
            strength,
            exclude,
            kind,
        } = interaction;
        let params = &weights.params;
        if exclude {
            self.excluded.insert(item);
        }
        if self.recent.is_empty() || time > self.last_time {
            self.position += 1;
        }
        // An older timestamp (late event) is placed at the current position, in arrival order.
        self.last_time = self.last_time.max(time);
        let position = self.position;
        let kind_bit = 1u8 << kind.min(7);
        let (is_new, new_kind) = match self.seen.get_mut(&item) {
            Some(kinds) => {
                let new_kind = *kinds & kind_bit == 0;
                *kinds |= kind_bit;
                (false, new_kind)
            }
            None => {
                self.seen.insert(item, kind_bit);
                (true, true)
            }
        };
        let mut strength = strength;
        if is_new {
            for &(earlier, at, _) in self.recent.iter().rev() {
                let distance = (position - at) as usize;
                if distance > params.pair_window {
                    break;
                }
                push_pair(earlier, item, distance, weights, out);
            }
        } else if let Some(index) = self.recent.iter().position(|(i, _, _)| *i == item) {
            if let Some((_, _, before)) = self.recent.remove(index) {
                strength = strength.max(before);
            }
        }
        self.recent.push_back((item, position, strength));
        self.trim(params);
        Observed { is_new, new_kind }
    }

    /// Keeps what counting and scoring can still use: items within the pair window of the
    /// latest position, and at least the most recent items scoring reads.
    fn trim(&mut self, params: &ModelParams) {
        let keep = params.scoring_history().max(1);
        while self.recent.len() > keep {
            let (_, at, _) = self.recent[0];
            if ((self.position - at) as usize) <= params.pair_window {
                break;
            }
            self.recent.pop_front();
        }
    }

    /// Grows with every interaction that changed the sequence (never decreases): lists built
    /// from a sequence carry it, so an older snapshot's list never replaces a newer one.
    pub fn version(&self) -> i64 {
        i64::from(self.position) + self.seen.len() as i64
    }

    /// The `limit` most recent items, most recent first: `(item, distance from the latest
    /// position, strength)`.
    pub fn history(&self, limit: usize) -> impl Iterator<Item = (Item, u32, f64)> + '_ {
        self.recent
            .iter()
            .rev()
            .take(limit)
            .map(move |&(item, at, strength)| (item, self.position - at, strength))
    }
}

/// What an interaction was to the user's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The user's first interaction with the item: it counts in `N` and forms pairs.
    pub is_new: bool,
    /// The user's first action of this kind on the item: it counts in the item's popularity.
    pub new_kind: bool,
}

/// One interaction as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub item: Item,
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The action's weight (1 in the offline evaluation: ratings are implicit interactions).
    pub strength: f64,
    /// Never recommend the item to this user again.
    pub exclude: bool,
    /// The kind of action (0 to 7; `ActionKind` order in the service): popularity counts each
    /// kind once per user and item.
    pub kind: u8,
}

impl Interaction {
    /// A plain interaction: weight 1, excluded afterwards (the evaluation protocol).
    pub fn implicit(item: Item, time: i64) -> Self {
        Self {
            item,
            time,
            strength: 1.0,
            exclude: true,
            kind: 0,
        }
    }
}

/// Pair weights by distance, computed once per parameter set (no `powf` per pair).
#[derive(Debug, Clone)]
pub struct PairWeights {
    pub params: ModelParams,
    /// `(forward, backward)` weight at each distance up to the table's end.
    table: Vec<(f64, f64)>,
}

/// Distances beyond this are computed on the fly (only unbounded windows reach them).
const TABLE_LIMIT: usize = 4096;

impl PairWeights {
    pub fn new(params: &ModelParams) -> Self {
        let len = params.pair_window.min(TABLE_LIMIT) + 1;
        let table = (0..len).map(|d| Self::compute(params, d)).collect();
        Self {
            params: params.clone(),
            table,
        }
    }

    fn compute(params: &ModelParams, distance: usize) -> (f64, f64) {
        if distance == 0 {
            return (params.simultaneous_weight, params.simultaneous_weight);
        }
        let decay = |exponent: f64| {
            if exponent == 0.0 {
                1.0
            } else {
                (distance as f64).powf(-exponent)
            }
        };
        (
            decay(params.forward_exponent),
            params.backward_weight * decay(params.backward_exponent),
        )
    }

    /// `(earlier→later, later→earlier)` weights of a pair `distance` positions apart.
    pub fn at(&self, distance: usize) -> (f64, f64) {
        self.table
            .get(distance)
            .copied()
            .unwrap_or_else(|| Self::compute(&self.params, distance))
    }
}

fn push_pair(
    earlier: Item,
    later: Item,
    distance: usize,
    weights: &PairWeights,
    out: &mut Vec<PairIncrement>,
) {
    if earlier == later {
        return;
    }
    let (forward, backward) = weights.at(distance);
    if forward > 0.0 {
        out.push(PairIncrement {
            from: earlier,
            to: later,
            weight: forward,
        });
    }
    if backward > 0.0 {
        out.push(PairIncrement {
            from: later,
            to: earlier,
            weight: backward,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(Item, i64)], params: &ModelParams) -> (UserSequence, Vec<PairIncrement>) {
        let mut user = UserSequence::default();
        let mut out = Vec::new();
        let weights = PairWeights::new(params);
        for &(item, time) in events {
            user.observe(Interaction::implicit(item, time), &weights, &mut out);
        }
        (user, out)
    }

    #[test]
    fn plain_cosine_counts_every_pair_once_in_both_directions() {
        let (_, pairs) = run(&[(1, 10), (2, 20), (3, 30)], &ModelParams::plain_cosine());
        let mut got: Vec<(Item, Item, f64)> = pairs.iter().map(|p| (p.from, p.to, p.weight)).collect();
        got.sort_by_key(|p| (p.0, p.1));
        assert_eq!(
            got,
            vec![
                (1, 2, 1.0),
                (1, 3, 1.0),
                (2, 1, 1.0),
                (2, 3, 1.0),
                (3, 1, 1.0),
                (3, 2, 1.0)
            ]
        );
    }

    #[test]
    fn equal_timestamps_share_a_position_and_count_as_simultaneous() {
        let params = ModelParams {
            simultaneous_weight: 0.7,
            ..ModelParams::default()
        };
        let (user, pairs) = run(&[(1, 10), (2, 10), (3, 11)], &params);
        assert_eq!(user.position, 2);
        assert_eq!(
            pairs[0],
            PairIncrement {
                from: 1,
                to: 2,
                weight: 0.7
            }
        );
        assert_eq!(
            pairs[1],
            PairIncrement {
                from: 2,
                to: 1,
                weight: 0.7
            }
        );
        // 3 is one position after both 1 and 2.
        assert!(pairs[2..]
            .iter()
            .all(|p| p.weight == 1.0 || p.weight == params.backward_weight));
    }

    #[test]
    fn the_window_limits_pairs_and_distance_decays_them() {
        let params = ModelParams {
            pair_window: 2,
            forward_exponent: 1.0,
            backward_weight: 0.0,
            ..ModelParams::default()
        };
        let (_, pairs) = run(&[(1, 1), (2, 2), (3, 3), (4, 4)], &params);
        let to4: Vec<(Item, f64)> = pairs
            .iter()
            .filter(|p| p.to == 4)
            .map(|p| (p.from, p.weight))
            .collect();
        assert_eq!(to4, vec![(3, 1.0), (2, 0.5)]);
    }

    #[test]
    fn repeats_create_no_pairs_and_move_the_item_to_the_front() {
        let (user, pairs) = run(&[(1, 1), (2, 2), (1, 3)], &ModelParams::plain_cosine());
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            user.history(10).collect::<Vec<_>>(),
            vec![(1, 0, 1.0), (2, 1, 1.0)]
        );
    }

    proptest::proptest! {
        /// What long-term scoring reads is maintained event by event: the sequence holds the
        /// user's most recent distinct items (as many as scoring reads), most recent first, and
        /// counts every distinct item the user ever had (the long-term share's input).
        #[test]
        fn a_sequence_keeps_the_latest_distinct_items_scoring_reads(
            events in proptest::collection::vec((0u32..60, 0i64..3), 0..300),
        ) {
            let params = ModelParams {
                pair_window: 5,
                history_limit: 4,
                long_history_limit: 25,
                ..ModelParams::default()
            };
            let mut time = 0;
            let timed: Vec<(Item, i64)> = events
                .iter()
                .map(|&(item, step)| {
                    time += step;
                    (item, time)
                })
                .collect();
            let (user, _) = run(&timed, &params);
            let mut expected: Vec<Item> = Vec::new();
            for &(item, _) in timed.iter().rev() {
                if !expected.contains(&item) {
                    expected.push(item);
                }
            }
            let distinct = expected.len();
            expected.truncate(params.scoring_history());
            let got: Vec<Item> = user.history(params.scoring_history()).map(|(i, _, _)| i).collect();
            proptest::prop_assert_eq!(got, expected);
            proptest::prop_assert_eq!(user.seen.len(), distinct);
        }
    }
}
