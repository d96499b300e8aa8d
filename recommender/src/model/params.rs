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
    /// Share of the long-term evidence in a score (0 = short-term only): both scores are
    /// divided by their best candidate's and blended `(1 - w) · short + w · long`.
    pub long_weight: f64,
    /// Most recent distinct items of a user that form the long-term score (bounds the cost of
    /// a list: at most this many neighbour lists are read).
    pub long_history_limit: usize,
    /// Weight of a long-term history item `k` positions before the latest: `long_history_decay^k`.
    pub long_history_decay: f64,
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
            long_history_limit: 0,
            long_history_decay: 1.0,
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
            long_weight: 0.0,
            long_history_limit: 0,
            long_history_decay: 1.0,
        }
    }
}
