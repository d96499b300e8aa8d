//! Test support (feature `test-support`): the exactly-once check shared by the service's crash
//! tests and the whole-system tests. The co-interaction state stored in Postgres (snapshot and
//! delta records) must equal a batch computation over the same events, each applied once.
use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use shared::events::action::UserAction;
use shared::events::Envelope;
use uuid::Uuid;

use crate::configuration::RecommenderSettings;
use crate::model::aggregator::Aggregator;
use crate::model::sequence::Interaction;
use crate::model::ModelParams;

/// `N` per product and `C` per product pair.
pub type State = (HashMap<Uuid, f64>, HashMap<(Uuid, Uuid), f64>);

/// The state a single batch pass over `events` (each applied once, in the given per-user
/// order) computes with the production model.
pub fn reference(recommender: &RecommenderSettings, events: &[Envelope<UserAction>]) -> State {
    let mut aggregator = Aggregator::new(recommender.model.clone());
    let mut items: HashMap<Uuid, u32> = HashMap::new();
    let mut products: Vec<Uuid> = Vec::new();
    for event in events {
        let a = &event.payload;
        let next = items.len() as u32;
        let item = *items.entry(a.product_id).or_insert_with(|| {
            products.push(a.product_id);
            next
        });
        let interaction = Interaction {
            item,
            time: a.occurred_at.timestamp_millis(),
            strength: recommender.weights.of(a.action, a.value),
            exclude: recommender.excludes(a.action),
            kind: crate::consumers::actions::kind_index(a.action),
        };
        aggregator.observe(a.user_id, interaction);
    }
    let (counts, _) = aggregator.take();
    let n = counts
        .items
        .iter()
        .map(|(&i, &n)| (products[i as usize], n))
        .collect();
    let c = counts
        .pairs
        .iter()
        .map(|(&key, &w)| {
            let (from, to) = crate::model::score::pair_of(key);
            ((products[from as usize], products[to as usize]), w)
        })
        .collect();
    (n, c)
}

/// The state flushes stored in the recommender's database: the snapshot plus the delta
/// records after it, as an instance restores it at start-up.
pub async fn stored(db: &DatabaseConnection) -> State {
    let restored = crate::replication::load(db, &ModelParams::default())
        .await
        .expect("the stored state loads");
    assert_eq!(restored.stopped, None, "every stored record applies");
    state_of(&restored.replica, db).await
}

/// A replica's state by product id (a running instance's, or one restored from the database).
pub async fn state_of(replica: &crate::model::replica::Replica, db: &DatabaseConnection) -> State {
    let counts = replica.counts();
    let mut product_of = HashMap::new();
    for row in db
        .query_all(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT product_id, item FROM product_items".to_owned(),
        ))
        .await
        .expect("product_items")
    {
        product_of.insert(
            row.try_get::<i32>("", "item").expect("item") as u32,
            row.try_get::<Uuid>("", "product_id").expect("product_id"),
        );
    }
    let n = counts
        .items
        .iter()
        .filter(|(_, n)| **n > 0.0)
        .map(|(i, n)| (product_of[i], *n))
        .collect();
    let c = counts
        .pairs
        .iter()
        .map(|(&key, &w)| {
            let (from, to) = crate::model::score::pair_of(key);
            ((product_of[&from], product_of[&to]), w)
        })
        .collect();
    (n, c)
}

/// What differs between a stored state and the reference, if anything: the first product or
/// pair whose value is not the expected one.
pub fn difference(actual: &State, expected: &State) -> Option<String> {
    if actual.0.len() != expected.0.len() {
        return Some(format!(
            "{} item counts, expected {}",
            actual.0.len(),
            expected.0.len()
        ));
    }
    for (product, n) in &expected.0 {
        if actual.0.get(product) != Some(n) {
            return Some(format!("N of {product}: {:?} != {n}", actual.0.get(product)));
        }
    }
    if actual.1.len() != expected.1.len() {
        return Some(format!(
            "{} pair counts, expected {}",
            actual.1.len(),
            expected.1.len()
        ));
    }
    for (pair, w) in &expected.1 {
        let got = actual.1.get(pair).copied().unwrap_or(f64::NAN);
        // Sums of the same terms in another order differ in the last bits only.
        if (got - w).abs() >= 1e-9 * w.abs().max(1.0) {
            return Some(format!("C{pair:?}: {got} != {w}"));
        }
    }
    None
}

/// Panics with the [`difference`], if any.
pub fn assert_same(actual: &State, expected: &State) {
    if let Some(difference) = difference(actual, expected) {
        panic!("the stored state is not the batch reference: {difference}");
    }
}
