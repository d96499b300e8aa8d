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
use recommender::model::score::{boosts, score, Neighbourhood, Scratch};
use recommender::model::sequence::{Interaction, UserSequence};
use recommender::model::{Item, ModelParams};
use rustc_hash::FxHashMap;

/// The neighbour lists of one user's history items and the popularity factors.
struct Cold<'a> {
    neighbours: FxHashMap<Item, Vec<(Item, f64)>>,
    boosts: &'a [f64],
}

impl Neighbourhood for Cold<'_> {
    fn neighbours(&self, item: Item) -> Option<&[(Item, f64)]> {
        self.neighbours.get(&item).map(Vec::as_slice)
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
    println!("| distinct items of the user | users | short-term only: mean / max ms | with long-term evidence: mean / max ms | neighbour lists read (max) |");
    println!("|---|---|---|---|---|");
    for (low, high) in BUCKETS {
        let bucket: Vec<&UserSequence> = sequences
            .iter()
            .copied()
            .filter(|s| (low..=high).contains(&s.seen.len()))
            .collect();
        if bucket.is_empty() {
            continue;
        }
        let (short_mean, short_max, _) = cost(&bucket, &replica, &boosts, &short_only);
        let (long_mean, long_max, read) = cost(&bucket, &replica, &boosts, &production);
        let label = if high == usize::MAX {
            format!("> {}", low - 1)
        } else {
            format!("{low}–{high}")
        };
        println!(
            "| {label} | {} | {short_mean:.2} / {short_max:.2} | {long_mean:.2} / {long_max:.2} | {read} |",
            bucket.len()
        );
    }
    Ok(())
}

/// Mean and max milliseconds per list (best of 3 per user) and the most neighbour lists one
/// list read.
fn cost(
    users: &[&UserSequence],
    replica: &Replica,
    boosts: &[f64],
    params: &ModelParams,
) -> (f64, f64, usize) {
    let mut scratch = Scratch::default();
    let (mut total, mut max, mut read) = (0.0, 0.0_f64, 0);
    for sequence in users {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let history: Vec<(Item, u32, f64)> = sequence.history(params.scoring_history()).collect();
            let model = Cold {
                neighbours: history
                    .iter()
                    .map(|&(i, _, _)| (i, replica.neighbours(i, None, params)))
                    .collect(),
                boosts,
            };
            read = read.max(model.neighbours.len());
            let share = params.long_share(sequence.seen.len());
            let excluded = |j: Item| sequence.excluded.contains(&j);
            let list = score(history, share, &model, excluded, 20, params, &mut scratch);
            std::hint::black_box(list);
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        total += best;
        max = max.max(best);
    }
    (total / users.len() as f64, max, read)
}
