//! The cost of building one user's list by the size of their history, with and without the
//! long-term evidence (pure: no I/O, no infrastructure). The model is ml-latest-small's, held in
//! a replica as the service holds it; each list is built cold, as a flush building that user's
//! list alone would (its history items' neighbour lists computed from the replica, then scored),
//! which is the worst case: a flush shares neighbour lists between the users it rebuilds.
//!
//!     cargo bench -p benchmarks --bench lists
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use recommender::evaluation::dataset::load;
use recommender::model::aggregator::Aggregator;
use recommender::model::delta::Delta;
use recommender::model::replica::Replica;
use recommender::model::score::{boosts, long_lists, long_or_all, score, Neighbourhood, Scratch};
use recommender::model::sequence::{Interaction, UserSequence};
use recommender::model::{Item, ModelParams};
use rustc_hash::FxHashMap;

/// The neighbour lists of one user's history items and the popularity factors.
struct Cold<'a> {
    neighbours: FxHashMap<Item, Vec<(Item, f64)>>,
    long: FxHashMap<Item, Vec<(Item, f64)>>,
    boosts: &'a [f64],
}

impl Neighbourhood for Cold<'_> {
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

/// History sizes (distinct items) reported separately.
const BUCKETS: [(usize, usize); 5] = [(1, 50), (51, 200), (201, 500), (501, 1000), (1001, usize::MAX)];

fn main() -> anyhow::Result<()> {
    let path = std::env::var("RATINGS").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/ml-latest-small/ratings.csv")
    });
    let mut ratings = load(&[&path])?.pop().map(|d| d.ratings).unwrap_or_default();
    ratings.sort_by_key(|r| (r.time, r.row));
    let production = ModelParams::default();
    let short_only = ModelParams {
        long_weight: 0.0,
        ..production.clone()
    };
    let mut aggregator = Aggregator::new(production.clone());
    for r in &ratings {
        aggregator.observe(r.user, Interaction::implicit(r.item, r.time * 1000));
    }
    let (counts, users) = aggregator.take();
    let mut replica = Replica::new(&production);
    replica.add_chunk(&Delta::new(&counts, &FxHashMap::default()))?;
    let boosts = boosts(replica.counts_n(), production.long_popularity);
    let mut sequences: Vec<&UserSequence> = users.iter().filter_map(|u| aggregator.user(u)).collect();
    sequences.sort_by_key(|s| s.seen.len());
    println!(
        "## List building cost by history size ({}; {} users, {} ratings, cold: neighbour lists + scoring)\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        sequences.len(),
        ratings.len()
    );
    let whole_lists = ModelParams {
        long_neighbours: 0,
        ..production.clone()
    };
    println!("| distinct items of the user | users | short-term only, cold: mean / max ms | production, cold: mean / max ms | production, scoring only: mean / max ms | long-term over whole neighbour lists, scoring only: mean / max ms | neighbour lists read (max) |");
    println!("|---|---|---|---|---|---|---|");
    for (low, high) in BUCKETS {
        let bucket: Vec<&UserSequence> = sequences
            .iter()
            .copied()
            .filter(|s| (low..=high).contains(&s.seen.len()))
            .collect();
        if bucket.is_empty() {
            continue;
        }
        let short = cost(&bucket, &replica, &boosts, &short_only);
        let long = cost(&bucket, &replica, &boosts, &production);
        let whole = cost(&bucket, &replica, &boosts, &whole_lists);
        let label = if high == usize::MAX {
            format!("> {}", low - 1)
        } else {
            format!("{low}–{high}")
        };
        println!(
            "| {label} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {} |",
            bucket.len(),
            short.cold.0,
            short.cold.1,
            long.cold.0,
            long.cold.1,
            long.scoring.0,
            long.scoring.1,
            whole.scoring.0,
            whole.scoring.1,
            long.read
        );
    }
    Ok(())
}

/// Milliseconds per list, mean and max over a bucket (best of 3 per user).
struct Cost {
    /// Neighbour lists computed from the replica, then scoring (one user alone in a flush).
    cold: (f64, f64),
    /// Scoring alone (neighbour lists shared with the other users of a flush).
    scoring: (f64, f64),
    /// The most neighbour lists one list read.
    read: usize,
}

fn cost(users: &[&UserSequence], replica: &Replica, boosts: &[f64], params: &ModelParams) -> Cost {
    let mut scratch = Scratch::default();
    let (mut cold, mut scoring, mut read) = (Vec::new(), Vec::new(), 0);
    for sequence in users {
        let (mut best_cold, mut best_scoring) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let started = Instant::now();
            let history: Vec<(Item, u32, f64)> = sequence.history(params.scoring_history()).collect();
            let neighbours: FxHashMap<Item, Vec<(Item, f64)>> = history
                .iter()
                .map(|&(i, _, _)| (i, replica.neighbours(i, None, params)))
                .collect();
            let long = long_lists(neighbours.iter().map(|(&i, l)| (i, l.as_slice())), params);
            let model = Cold {
                neighbours,
                long,
                boosts,
            };
            read = read.max(model.neighbours.len());
            let scoring_started = Instant::now();
            let share = params.long_share(sequence.seen.len());
            let excluded = |j: Item| sequence.excluded.contains(&j);
            let list = score(history, share, &model, excluded, 20, params, &mut scratch);
            std::hint::black_box(list);
            best_scoring = best_scoring.min(scoring_started.elapsed().as_secs_f64() * 1000.0);
            best_cold = best_cold.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        cold.push(best_cold);
        scoring.push(best_scoring);
    }
    let summary = |values: &[f64]| {
        let max = values.iter().copied().fold(0.0, f64::max);
        (values.iter().sum::<f64>() / values.len().max(1) as f64, max)
    };
    Cost {
        cold: summary(&cold),
        scoring: summary(&scoring),
        read,
    }
}
