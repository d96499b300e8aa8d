//! Top-k metrics with binary relevance, averaged over scored users.
use rustc_hash::FxHashSet;
use serde::Serialize;

use crate::model::Item;

/// Averages over the users scored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    pub users: usize,
}

/// Sums to average at the end.
#[derive(Debug, Default)]
pub struct Accumulator {
    sum: Metrics,
}

impl Accumulator {
    /// Adds one user's ranked list against their relevant items.
    pub fn add(&mut self, list: &[Item], relevant: &FxHashSet<Item>, k: usize) {
        if relevant.is_empty() {
            return;
        }
        let ideal: f64 = (1..=relevant.len().min(k))
            .map(|r| 1.0 / (r as f64 + 1.0).log2())
            .sum();
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
        for (index, item) in list.iter().take(k).enumerate() {
            if relevant.contains(item) {
                let rank = index + 1;
                hits += 1;
                dcg += 1.0 / (rank as f64 + 1.0).log2();
                ap += hits as f64 / rank as f64;
            }
        }
        self.sum.precision += hits as f64 / k as f64;
        self.sum.recall += hits as f64 / relevant.len() as f64;
        self.sum.ndcg += dcg / ideal;
        self.sum.map += ap / relevant.len().min(k) as f64;
        self.sum.hit_rate += if hits > 0 { 1.0 } else { 0.0 };
        self.sum.users += 1;
    }

    /// Adds another accumulator's users (results of a parallel part).
    pub fn merge(&mut self, other: &Accumulator) {
        self.sum.precision += other.sum.precision;
        self.sum.recall += other.sum.recall;
        self.sum.ndcg += other.sum.ndcg;
        self.sum.map += other.sum.map;
        self.sum.hit_rate += other.sum.hit_rate;
        self.sum.users += other.sum.users;
    }

    /// The averages.
    pub fn finish(&self) -> Metrics {
        let n = self.sum.users.max(1) as f64;
        Metrics {
            precision: self.sum.precision / n,
            recall: self.sum.recall / n,
            ndcg: self.sum.ndcg / n,
            map: self.sum.map / n,
            hit_rate: self.sum.hit_rate / n,
            users: self.sum.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_one_list_follow_the_definitions() {
        let relevant: FxHashSet<Item> = [2, 5, 9].into_iter().collect();
        let mut acc = Accumulator::default();
        // Hits at ranks 2 and 3 of k = 4.
        acc.add(&[1, 2, 5, 7], &relevant, 4);
        let m = acc.finish();
        assert!((m.precision - 0.5).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((m.ndcg - (1.0 / 3f64.log2() + 0.5) / ideal).abs() < 1e-12);
        assert!((m.map - (0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!((m.hit_rate, m.users), (1.0, 1));
    }
}
