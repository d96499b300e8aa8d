//! Model parameters: every knob that changes counts or scores, chosen by measurement
//! (docs/evaluation.md).
use serde::{Deserialize, Serialize};

/// How co-interactions are counted and how scores are formed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelParams {
    /// Two interactions of a user count as a co-interaction only if at most this many positions
    /// apart in the user's sequence (`usize::MAX`: any distance, as plain co-occurrence).
    pub pair_window: usize,
    /// Weight of an earlier→later pair at distance `d`: `d^-forward_exponent`.
    pub forward_exponent: f64,
    /// Weight of the later→earlier direction relative to the forward one.
    pub backward_weight: f64,
    /// Distance decay of the later→earlier direction: `backward_weight · d^-backward_exponent`.
    pub backward_exponent: f64,
    /// Weight of a pair at the same position (same timestamp: simultaneous), both directions.
    pub simultaneous_weight: f64,
    /// Asymmetric cosine: `C_ij / (N_i^alpha · N_j^(1-alpha))` (0.5 = cosine).
    pub alpha: f64,
    /// Similarity sharpening exponent `sim^sharpen` (1 = none).
    pub sharpen: f64,
    /// Neighbours kept per item, the most similar first (0 = all).
    pub neighbours: usize,
    /// Weight of a history item `k` positions before the user's latest: `history_decay^k`
    /// (1 = no recency).
    pub history_decay: f64,
    /// Most recent distinct items of a user that score candidates (the short-term evidence).
    pub history_limit: usize,
    /// Largest share of the long-term evidence in a score (0 = short-term only): both scores
    /// are divided by their best candidate's and blended `(1 - w) · short + w · long`, with `w`
    /// from [`ModelParams::long_share`].
    pub long_weight: f64,
    /// How much a user's long-term share grows each time their distinct items double (0: every
    /// user gets `long_weight`).
    pub long_weight_per_doubling: f64,
    /// Distinct items from which a user's long-term share grows above 0.
    pub long_start: f64,
    /// Candidate popularity in the long-term score: `long(j) · N_j^long_popularity` (interests
    /// spread over a whole history lean towards items many users share; 0 = none).
    pub long_popularity: f64,
    /// Neighbours of each history item the long-term score reads, the most similar first
    /// (0 = all that are kept): the long-term score sums over many items, and its cost is
    /// history × neighbours.
    pub long_neighbours: usize,
    /// Most recent distinct items of a user that form the long-term score (bounds the cost of
    /// a list: at most this many neighbour lists are read).
    pub long_history_limit: usize,
}

impl ModelParams {
    /// How many of a user's most recent items scoring reads (and sequences keep).
    pub fn scoring_history(&self) -> usize {
        if self.long_weight > 0.0 {
            self.history_limit.max(self.long_history_limit)
        } else {
            self.history_limit
        }
    }

    /// The long-term share `w` of a user with `items` distinct items:
    /// `long_weight_per_doubling · log2(items / long_start)`, between 0 and `long_weight`.
    /// A user with few items is best served by their latest ones; the more a user has done,
    /// the more of it lies outside the recent window (docs/evaluation.md measures both).
    pub fn long_share(&self, items: usize) -> f64 {
        if self.long_weight <= 0.0 {
            return 0.0;
        }
        if self.long_weight_per_doubling == 0.0 {
            return self.long_weight;
        }
        let doublings = (items.max(1) as f64 / self.long_start.max(f64::MIN_POSITIVE)).log2();
        (self.long_weight_per_doubling * doublings).clamp(0.0, self.long_weight)
    }
}

impl ModelParams {
    /// Plain item-item cosine on binary co-occurrence (EVALUATION.md's reference row 2).
    pub fn plain_cosine() -> Self {
        Self {
            pair_window: usize::MAX,
            forward_exponent: 0.0,
            backward_weight: 1.0,
            backward_exponent: 0.0,
            simultaneous_weight: 1.0,
            alpha: 0.5,
            sharpen: 1.0,
            neighbours: 0,
            history_decay: 1.0,
            history_limit: usize::MAX,
            long_weight: 0.0,
            long_weight_per_doubling: 0.0,
            long_start: 1.0,
            long_popularity: 0.0,
            long_neighbours: 0,
            long_history_limit: 0,
        }
    }
}

impl Default for ModelParams {
    /// The production parameters (see docs/evaluation.md for the measurements behind them).
    fn default() -> Self {
        Self {
            pair_window: 200,
            forward_exponent: 0.25,
            backward_weight: 0.5,
            backward_exponent: 0.25,
            simultaneous_weight: 0.5,
            alpha: 0.6,
            sharpen: 1.0,
            neighbours: 1000,
            history_decay: 0.7,
            history_limit: 20,
            long_weight: 0.6,
            long_weight_per_doubling: 0.15,
            long_start: 6.0,
            long_popularity: 0.2,
            long_neighbours: 200,
            long_history_limit: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_term_share_grows_with_each_doubling_of_a_users_items_up_to_the_cap() {
        let params = ModelParams {
            long_weight: 0.6,
            long_weight_per_doubling: 0.15,
            long_start: 6.0,
            ..ModelParams::default()
        };
        assert_eq!(params.long_share(0), 0.0);
        assert_eq!(params.long_share(6), 0.0);
        assert!((params.long_share(12) - 0.15).abs() < 1e-12);
        assert!((params.long_share(48) - 0.45).abs() < 1e-12);
        assert_eq!(params.long_share(96), 0.6);
        assert_eq!(params.long_share(100_000), 0.6);
    }

    #[test]
    fn without_growth_every_user_gets_the_cap_and_without_a_cap_nobody_any() {
        let fixed = ModelParams {
            long_weight: 0.4,
            long_weight_per_doubling: 0.0,
            ..ModelParams::default()
        };
        assert_eq!(fixed.long_share(1), 0.4);
        assert_eq!(fixed.long_share(1_000), 0.4);
        let off = ModelParams {
            long_weight: 0.0,
            ..ModelParams::default()
        };
        assert_eq!(off.long_share(1_000), 0.0);
        assert_eq!(off.scoring_history(), off.history_limit);
        assert_eq!(ModelParams::default().scoring_history(), 1000);
    }
}
