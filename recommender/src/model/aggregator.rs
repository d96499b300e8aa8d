//! The aggregation step shared by the service's per-partition aggregator actors and the offline
//! evaluator: events go in one at a time, in each user's order; count increments accumulate
//! until taken (a flush), together with the users they touched.
use std::hash::Hash;

use rustc_hash::{FxHashMap, FxHashSet};

use super::score::Counts;
use super::sequence::{Interaction, PairIncrement, PairWeights, UserSequence};
use super::ModelParams;

/// Per-user sequences plus the count increments not yet flushed.
#[derive(Debug, Clone)]
pub struct Aggregator<U> {
    weights: PairWeights,
    users: FxHashMap<U, UserSequence>,
    pending: Counts,
    touched: FxHashSet<U>,
    scratch: Vec<PairIncrement>,
}

impl<U: Hash + Eq + Clone> Aggregator<U> {
    pub fn new(params: ModelParams) -> Self {
        Self {
            weights: PairWeights::new(&params),
            users: FxHashMap::default(),
            pending: Counts::default(),
            touched: FxHashSet::default(),
            scratch: Vec::new(),
        }
    }

    /// Applies one interaction of `user`; true when it is the user's first action of its kind
    /// on the item (what popularity counts).
    pub fn observe(&mut self, user: U, interaction: Interaction) -> bool {
        let sequence = self.users.entry(user.clone()).or_default();
        self.scratch.clear();
        let observed = sequence.observe(interaction, &self.weights, &mut self.scratch);
        if observed.is_new {
            self.pending.add_item(interaction.item, 1.0);
            for pair in self.scratch.drain(..) {
                self.pending.add_pair(pair);
            }
        }
        self.touched.insert(user);
        observed.new_kind
    }

    /// Restores a user's sequence (from storage, before their next event).
    pub fn restore(&mut self, user: U, sequence: UserSequence) {
        self.users.insert(user, sequence);
    }

    /// True if the user's sequence is in memory.
    pub fn knows(&self, user: &U) -> bool {
        self.users.contains_key(user)
    }

    /// A user's sequence.
    pub fn user(&self, user: &U) -> Option<&UserSequence> {
        self.users.get(user)
    }

    /// Forgets a user (deleted account).
    pub fn forget(&mut self, user: &U) {
        self.users.remove(user);
        self.touched.remove(user);
    }

    /// The increments and touched users since the last call, leaving none pending.
    pub fn take(&mut self) -> (Counts, Vec<U>) {
        let counts = std::mem::take(&mut self.pending);
        let touched = self.touched.drain().collect();
        (counts, touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_accumulate_until_taken() {
        let mut aggregator = Aggregator::new(ModelParams::plain_cosine());
        aggregator.observe("u", Interaction::implicit(1, 1));
        aggregator.observe("u", Interaction::implicit(2, 2));
        aggregator.observe("v", Interaction::implicit(1, 1));
        let (counts, mut touched) = aggregator.take();
        touched.sort();
        assert_eq!(touched, vec!["u", "v"]);
        assert_eq!(counts.items[&1], 2.0);
        assert_eq!(counts.pair(1, 2), 1.0);
        assert_eq!(aggregator.take().0, Counts::default());
        // The sequences stay: a later item pairs with earlier ones.
        aggregator.observe("u", Interaction::implicit(3, 3));
        assert_eq!(aggregator.take().0.pairs.len(), 4);
    }
}
