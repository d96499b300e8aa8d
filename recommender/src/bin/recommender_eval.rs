//! Offline evaluation of the recommender on a ratings CSV (see docs/evaluation.md).
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use recommender::evaluation::dataset::{load, load_genres};
use recommender::evaluation::metrics::Metrics;
use recommender::evaluation::runner::{Method, Run};
use recommender::evaluation::split::user_time;
use recommender::model::ModelParams;

/// Measures P@k, R@k, NDCG@k, MAP@k and HR@k of the production model and the baselines.
#[derive(Parser)]
#[command(name = "recommender-eval")]
struct Args {
    /// Ratings CSV (`userId,movieId,rating,timestamp`), split with the user_time protocol.
    #[arg(long, default_value = "../shared/datasets/ml-latest-small/ratings.csv", conflicts_with_all = ["train", "test"])]
    ratings: PathBuf,
    /// An already split train part (with --test).
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// An already split test part (with --train).
    #[arg(long, requires = "train")]
    test: Option<PathBuf>,
    /// `movieId,title,genres`: genres become categories (short lists are filled from them).
    #[arg(long)]
    genres: Option<PathBuf>,
    /// List length.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Evaluate on a validation split carved (user_time) from the train part instead of the test.
    #[arg(long)]
    validation: bool,
    /// Model parameters as JSON (fields of ModelParams; missing ones keep the production values).
    #[arg(long)]
    params: Option<String>,
    /// Only the production model (skip the baselines).
    #[arg(long)]
    model_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let (train, test, item_ids) = match (&args.train, &args.test) {
        (Some(train), Some(test)) => {
            let mut sets = load(&[train, test])?;
            let test = sets.pop().context("test set")?;
            let train = sets.pop().context("train set")?;
            (train.ratings, test.ratings, train.item_ids)
        }
        _ => {
            let data = load(&[&args.ratings])?.pop().context("ratings")?;
            let split = user_time(&data.ratings, 0.8);
            (split.train, split.test, data.item_ids)
        }
    };
    let (train, test) = if args.validation {
        let split = user_time(&train, 0.8);
        (split.train, split.test)
    } else {
        (train, test)
    };
    let genres = args
        .genres
        .as_deref()
        .map(|p| load_genres(p, &item_ids))
        .transpose()?;
    let params = production_params(args.params.as_deref())?;
    let run = Run {
        train: &train,
        test: &test,
        k: args.k,
        genres: genres.as_ref(),
        progress: true,
    };
    let part = if args.validation { "validation" } else { "test" };
    println!(
        "{} train rows, {} {part} rows, k = {}",
        train.len(),
        test.len(),
        args.k
    );
    println!(
        "| model | P@{k} | R@{k} | NDCG@{k} | MAP@{k} | HR@{k} | users |",
        k = args.k
    );
    println!("|---|---|---|---|---|---|---|");
    if !args.model_only {
        row("most popular", &run.evaluate(&Method::MostPopular));
        row(
            "item-item cosine",
            &run.evaluate(&Method::Model(ModelParams::plain_cosine())),
        );
    }
    row("production", &run.evaluate(&Method::Model(params.clone())));
    println!("production parameters: {}", serde_json::to_string(&params)?);
    println!("took {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The production defaults, with any fields given as JSON replaced.
fn production_params(overrides: Option<&str>) -> anyhow::Result<ModelParams> {
    let mut value = serde_json::to_value(ModelParams::default())?;
    if let Some(raw) = overrides {
        let patch: serde_json::Value = serde_json::from_str(raw).context("--params is not JSON")?;
        let serde_json::Value::Object(fields) = patch else {
            anyhow::bail!("--params must be a JSON object")
        };
        for (key, field) in fields {
            anyhow::ensure!(value.get(&key).is_some(), "unknown parameter {key}");
            value[&key] = field;
        }
    }
    Ok(serde_json::from_value(value)?)
}

fn row(name: &str, m: &Metrics) {
    println!(
        "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} |",
        m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.users
    );
}
