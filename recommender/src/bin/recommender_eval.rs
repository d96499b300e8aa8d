//! Offline evaluation of the recommender on a ratings CSV (see docs/evaluation.md).
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use recommender::evaluation::dataset::Rating;
use recommender::evaluation::dataset::{load, load_genres};
use recommender::evaluation::metrics::Metrics;
use recommender::evaluation::runner::{Method, Run};
use recommender::evaluation::split::{random_user, user_time};
use recommender::model::ModelParams;

/// Which split to evaluate on.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Protocol {
    /// Per user, the latest 20 % by time are held out (from --ratings).
    UserTime,
    /// Per user, a random 25 % spread over the whole history (the --random-train/--random-test files).
    RandomUser,
    /// Both, one table each.
    All,
}

/// Measures P@k, R@k, NDCG@k, MAP@k and HR@k of the production model and the baselines.
#[derive(Parser)]
#[command(name = "recommender-eval")]
struct Args {
    /// Which protocol (split) to evaluate on; --train/--test evaluate a given split instead.
    #[arg(long, value_enum, default_value = "user-time")]
    protocol: Protocol,
    /// Ratings CSV (`userId,movieId,rating,timestamp`), split with the user_time protocol.
    #[arg(long, default_value = "../shared/datasets/ml-latest-small/ratings.csv")]
    ratings: PathBuf,
    /// The random_user protocol's train file.
    #[arg(
        long,
        default_value = "../shared/datasets/ml-latest-small/splits/random_user_train.csv"
    )]
    random_train: PathBuf,
    /// The random_user protocol's test file.
    #[arg(
        long,
        default_value = "../shared/datasets/ml-latest-small/splits/random_user_test.csv"
    )]
    random_test: PathBuf,
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
    /// Evaluate on a validation split carved from the train part instead of the test: of the
    /// protocol's own kind (user_time: the latest 20 %; random_user: a seeded random 25 %).
    #[arg(long)]
    validation: bool,
    /// Model parameters as JSON (fields of ModelParams; missing ones keep the production values).
    #[arg(long)]
    params: Option<String>,
    /// Only the production model (skip the baselines).
    #[arg(long)]
    model_only: bool,
}

/// The seed of random_user validation splits.
const VALIDATION_SEED: u64 = 42;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let params = production_params(args.params.as_deref())?;
    if let (Some(train), Some(test)) = (&args.train, &args.test) {
        evaluate(
            &args,
            "given split",
            given(train, test)?,
            Carve::UserTime,
            &params,
        )?;
    } else {
        if matches!(args.protocol, Protocol::UserTime | Protocol::All) {
            let data = load(&[&args.ratings])?.pop().context("ratings")?;
            let split = user_time(&data.ratings, 0.8);
            let parts = (split.train, split.test, data.item_ids);
            evaluate(&args, "user_time", parts, Carve::UserTime, &params)?;
        }
        if matches!(args.protocol, Protocol::RandomUser | Protocol::All) {
            let parts = given(&args.random_train, &args.random_test)?;
            evaluate(&args, "random_user", parts, Carve::RandomUser, &params)?;
        }
    }
    println!("production parameters: {}", serde_json::to_string(&params)?);
    println!("took {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// How a validation split is carved from a train part.
#[derive(Clone, Copy)]
enum Carve {
    UserTime,
    RandomUser,
}

type Parts = (Vec<Rating>, Vec<Rating>, Vec<i64>);

/// Train and test files split already (sharing one item numbering).
fn given(train: &Path, test: &Path) -> anyhow::Result<Parts> {
    let mut sets = load(&[train, test])?;
    let test = sets.pop().context("test set")?;
    let train = sets.pop().context("train set")?;
    Ok((train.ratings, test.ratings, train.item_ids))
}

/// Prints one protocol's table.
fn evaluate(
    args: &Args,
    name: &str,
    (train, test, item_ids): Parts,
    carve: Carve,
    params: &ModelParams,
) -> anyhow::Result<()> {
    let (train, test) = if args.validation {
        let split = match carve {
            Carve::UserTime => user_time(&train, 0.8),
            Carve::RandomUser => random_user(&train, 0.75, VALIDATION_SEED),
        };
        (split.train, split.test)
    } else {
        (train, test)
    };
    let genres = args
        .genres
        .as_deref()
        .map(|p| load_genres(p, &item_ids))
        .transpose()?;
    let run = Run {
        train: &train,
        test: &test,
        k: args.k,
        genres: genres.as_ref(),
        progress: true,
    };
    let part = if args.validation { "validation" } else { "test" };
    println!(
        "\n{name}: {} train rows, {} {part} rows, k = {}",
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
