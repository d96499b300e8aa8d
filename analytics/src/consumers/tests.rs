//! Model-based property test of the flush protocol: whatever the partitioning, delivery batches,
//! flush points, crashes (redelivery from before the stored offset) and duplicate event ids,
//! every counter equals a batch count over the distinct events.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use shared::events::action::ActionKind;
use uuid::Uuid;

use super::fresh;
use crate::buckets::Bucket;
use crate::increments::{increments, ActionCounts, Increments, Recorded};

type Time = chrono::DateTime<Utc>;
/// views, clicks, add_to_cart, purchases, ratings, rating sum.
type Counters = (i64, i64, i64, i64, i64, i64);
/// views, purchases, first, last.
type UserRow = (i64, i64, Time, Time);

/// What Postgres holds, with the SQL's semantics: sums, unions, LEAST/GREATEST.
#[derive(Debug, Default, PartialEq)]
struct Stats {
    products: BTreeMap<(Uuid, Bucket, Time), Counters>,
    product_users: BTreeSet<(Uuid, Bucket, Time, Uuid)>,
    users: BTreeMap<Uuid, UserRow>,
    active_days: BTreeSet<(chrono::NaiveDate, Uuid)>,
    global: BTreeMap<(Bucket, Time, String), i64>,
}

fn counts(c: &ActionCounts) -> Counters {
    (
        c.views,
        c.clicks,
        c.add_to_cart,
        c.purchases,
        c.ratings,
        c.rating_sum as i64,
    )
}

impl Stats {
    fn add(&mut self, inc: &Increments) {
        for (key, c) in &inc.products {
            let e = self.products.entry(*key).or_default();
            let a = counts(c);
            *e = (e.0 + a.0, e.1 + a.1, e.2 + a.2, e.3 + a.3, e.4 + a.4, e.5 + a.5);
        }
        self.product_users.extend(inc.product_users.iter().copied());
        for (user, i) in &inc.users {
            let e = self.users.entry(*user).or_insert((0, 0, i.first_at, i.last_at));
            *e = (
                e.0 + i.counts.views,
                e.1 + i.counts.purchases,
                e.2.min(i.first_at),
                e.3.max(i.last_at),
            );
        }
        self.active_days.extend(inc.active_days.iter().copied());
        for (key, v) in &inc.global {
            *self.global.entry(key.clone()).or_default() += v;
        }
    }
}

#[derive(Default)]
struct Store {
    offsets: HashMap<usize, i64>,
    processed: HashSet<Uuid>,
    stats: Stats,
}

fn flush(buffer: &mut Vec<Recorded>, store: &mut Store, partition: usize) {
    let floor = store.offsets.get(&partition).copied().unwrap_or(0);
    let (distinct, next) = fresh(buffer, floor, &store.processed);
    if let Some(next) = next {
        // The transaction: all of it or nothing.
        store.offsets.insert(partition, next);
        store.processed.extend(distinct.iter().map(|e| e.event_id));
        store.stats.add(&increments(&distinct));
    }
    buffer.clear();
}

#[derive(Debug, Clone)]
enum Op {
    Deliver { partition: usize, count: usize },
    Flush { partition: usize },
    Crash { partition: usize, back: usize },
}

prop_compose! {
    fn stream()(raw in prop::collection::vec((0u8..4, 0u8..5, 0u8..4, 0i64..3000, prop::option::weighted(0.15, any::<prop::sample::Index>())), 1..60))
        -> Vec<Recorded> {
        let kinds = [ActionKind::View, ActionKind::Click, ActionKind::Purchase, ActionKind::Rate];
        let mut events: Vec<Recorded> = Vec::new();
        for (i, (user, product, kind, minutes, duplicate)) in raw.into_iter().enumerate() {
            let event = match (duplicate, events.is_empty()) {
                (Some(index), false) => events[index.index(events.len())].clone(),
                _ => {
                    let action = kinds[kind as usize];
                    Recorded {
                        event_id: Uuid::from_u128(i as u128 + 1),
                        topic: "user_actions".into(),
                        partition: 0,
                        offset: 0,
                        event_type: "user_action".into(),
                        occurred_at: Utc.timestamp_opt(1_800_000_000 + minutes * 60, 0).unwrap(),
                        user_id: Some(Uuid::from_u128(0x100 + u128::from(user))),
                        product_id: Some(Uuid::from_u128(0x200 + u128::from(product))),
                        action: Some((action, (action == ActionKind::Rate).then_some(3.0))),
                        payload: serde_json::Value::Null,
                    }
                }
            };
            events.push(event);
        }
        events
    }
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Recorded>, Vec<Op>)> {
    (1usize..=3).prop_flat_map(|partitions| {
        let op = prop_oneof![
            4 => (0..partitions, 1usize..8).prop_map(|(partition, count)| Op::Deliver { partition, count }),
            2 => (0..partitions).prop_map(|partition| Op::Flush { partition }),
            1 => (0..partitions, 0usize..6).prop_map(|(partition, back)| Op::Crash { partition, back }),
        ];
        (Just(partitions), stream(), prop::collection::vec(op, 0..40))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_counter_equals_a_batch_count_over_the_distinct_events((partitions, events, ops) in scenario()) {
        let mut logs: Vec<Vec<Recorded>> = vec![Vec::new(); partitions];
        for e in &events {
            let log = &mut logs[(e.user_id.map_or(0, |u| u.as_u128()) as usize) % partitions];
            let mut e = e.clone();
            e.offset = log.len() as i64;
            log.push(e);
        }
        let mut store = Store::default();
        let mut buffers: Vec<Vec<Recorded>> = vec![Vec::new(); partitions];
        let mut positions = vec![0usize; partitions];
        for op in ops {
            match op {
                Op::Deliver { partition, count } => {
                    let end = positions[partition].saturating_add(count).min(logs[partition].len());
                    buffers[partition].extend_from_slice(&logs[partition][positions[partition]..end]);
                    positions[partition] = end;
                }
                Op::Flush { partition } => flush(&mut buffers[partition], &mut store, partition),
                Op::Crash { partition, back } => {
                    buffers[partition].clear();
                    let stored = store.offsets.get(&partition).copied().unwrap_or(0) as usize;
                    positions[partition] = stored.saturating_sub(back);
                }
            }
        }
        for partition in 0..partitions {
            buffers[partition].extend_from_slice(&logs[partition][positions[partition]..]);
            flush(&mut buffers[partition], &mut store, partition);
        }
        let mut seen = HashSet::new();
        let distinct: Vec<Recorded> = logs.iter().flatten().filter(|e| seen.insert(e.event_id)).cloned().collect();
        let mut expected = Stats::default();
        expected.add(&increments(&distinct));
        prop_assert_eq!(store.stats, expected);
    }
}
