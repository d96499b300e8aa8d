//! Model-based property test of the flush protocol: whatever the partitioning, delivery
//! batches, flush points, crashes (with redelivery from an earlier position) and duplicate
//! event ids, the committed state equals a batch computation over the distinct events.
use std::collections::{HashMap, HashSet};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use shared::events::action::ActionKind;
use uuid::Uuid;

use super::{apply_batch, ActionEvent, Core};
use crate::configuration::RecommenderSettings;
use crate::model::aggregator::Aggregator;
use crate::model::delta::Delta;
use crate::model::replica::Replica;
use crate::model::score::Counts;
use crate::model::sequence::UserSequence;
use crate::model::Item;

/// What Postgres holds: offsets, delta records, sequences, processed ids.
#[derive(Default)]
struct Store {
    offsets: HashMap<usize, i64>,
    /// `(partition, base, next, delta)` in commit order.
    deltas: Vec<(i32, Option<i64>, i64, Delta)>,
    sequences: HashMap<Uuid, UserSequence>,
    processed: HashSet<Uuid>,
}

impl Store {
    /// Another instance's replica catching up: every record past its watermarks, in order.
    fn sync(&self, replica: &mut Replica) -> Result<(), TestCaseError> {
        for (partition, base, next, delta) in &self.deltas {
            let result = replica.apply(*partition, *base, *next, delta);
            prop_assert!(result.is_ok(), "{:?}", result);
        }
        Ok(())
    }
}

/// One partition's consumer and aggregator.
struct Worker {
    model: Aggregator<Uuid>,
    buffer: Vec<ActionEvent>,
    position: usize,
}

impl Worker {
    fn new(settings: &RecommenderSettings, position: usize) -> Self {
        Self {
            model: Aggregator::new(settings.model.clone()),
            buffer: Vec::new(),
            position,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Deliver {
        partition: usize,
        count: usize,
    },
    Flush {
        partition: usize,
    },
    /// The other instance reads the records committed so far.
    Sync,
    /// Loses the worker's memory; the consumer resumes `back` messages before the stored offset.
    Crash {
        partition: usize,
        back: usize,
    },
}

fn flush(
    worker: &mut Worker,
    worker_replica: &mut Replica,
    store: &mut Store,
    partition: usize,
    items: &HashMap<Uuid, Item>,
    settings: &RecommenderSettings,
) {
    let floor = store.offsets.get(&partition).copied().unwrap_or(0);
    for event in &worker.buffer {
        if !worker.model.knows(&event.user) {
            if let Some(sequence) = store.sequences.get(&event.user) {
                worker.model.restore(event.user, sequence.clone());
            }
        }
    }
    let applied = apply_batch(
        &mut worker.model,
        &worker.buffer,
        floor,
        &store.processed,
        items,
        settings,
    );
    // The commit: all of it, atomically; then the flushing instance applies its own delta.
    if let Some(next) = applied.next_offset {
        let base = store.offsets.insert(partition, next);
        let delta = Delta::new(&applied.counts, &applied.popularity);
        // Own deltas go straight in unless this replica lags (the poll then brings them).
        let _ = worker_replica.apply(partition as i32, base, next, &delta);
        store.deltas.push((partition as i32, base, next, delta));
        for user in &applied.touched {
            if let Some(sequence) = worker.model.user(user) {
                store.sequences.insert(*user, sequence.clone());
            }
        }
        store.processed.extend(applied.event_ids);
    }
    worker.buffer.clear();
}

fn deliver(worker: &mut Worker, log: &[ActionEvent], count: usize) {
    let end = worker.position.saturating_add(count).min(log.len());
    worker.buffer.extend_from_slice(&log[worker.position..end]);
    worker.position = end;
}

fn event(
    index: usize,
    user: u8,
    product: u8,
    second: i64,
    kind: u8,
    duplicate_of: Option<usize>,
) -> (ActionEvent, Option<usize>) {
    let kinds = [
        ActionKind::View,
        ActionKind::Click,
        ActionKind::AddToCart,
        ActionKind::Purchase,
    ];
    let event = ActionEvent {
        event_id: Uuid::from_u128(index as u128 + 1),
        offset: 0,
        user: Uuid::from_u128(0x100 + u128::from(user)),
        product: Uuid::from_u128(0x200 + u128::from(product)),
        action: kinds[kind as usize % kinds.len()],
        value: None,
        occurred_at: Utc.timestamp_opt(1_800_000_000 + second, 0).unwrap(),
        produced_ms: None,
    };
    (event, duplicate_of)
}

prop_compose! {
    fn stream()(raw in prop::collection::vec((0u8..4, 0u8..6, 0i64..3, 0u8..4, prop::option::weighted(0.15, any::<prop::sample::Index>())), 1..60))
        -> Vec<ActionEvent> {
        let mut events: Vec<ActionEvent> = Vec::new();
        let mut second = 0;
        for (i, (user, product, step, kind, duplicate)) in raw.into_iter().enumerate() {
            second += step;
            let (mut e, _) = event(i, user, product, second, kind, None);
            if let (Some(index), false) = (duplicate, events.is_empty()) {
                // A redelivered copy of an earlier event (same id and content), later in the log.
                e = events[index.index(events.len())].clone();
            }
            events.push(e);
        }
        events
    }
}

fn op(partitions: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..partitions, 1usize..8).prop_map(|(partition, count)| Op::Deliver { partition, count }),
        2 => (0..partitions).prop_map(|partition| Op::Flush { partition }),
        1 => (0..partitions, 0usize..6).prop_map(|(partition, back)| Op::Crash { partition, back }),
        1 => Just(Op::Sync),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<ActionEvent>, Vec<Op>)> {
    (1usize..=3).prop_flat_map(|partitions| {
        (
            Just(partitions),
            stream(),
            prop::collection::vec(op(partitions), 0..40),
        )
    })
}

fn assert_counts_equal(actual: &Counts, expected: &Counts) -> Result<(), TestCaseError> {
    prop_assert_eq!(&actual.items, &expected.items);
    prop_assert_eq!(actual.pairs.len(), expected.pairs.len());
    for (key, w) in &expected.pairs {
        let got = actual.pairs.get(key).copied().unwrap_or(f64::NAN);
        prop_assert!((got - w).abs() < 1e-9, "pair {}: {} != {}", key, got, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_committed_state_equals_the_batch_reference((partitions, events, ops) in scenario()) {
        let settings = RecommenderSettings::default();
        let items: HashMap<Uuid, Item> = (0..6u32).map(|p| (Uuid::from_u128(0x200 + u128::from(p)), p)).collect();
        // Partition logs: a user's events go to one partition, in order (key = user id).
        let mut logs: Vec<Vec<ActionEvent>> = vec![Vec::new(); partitions];
        for e in &events {
            let log = &mut logs[(e.user.as_u128() as usize) % partitions];
            let mut e = e.clone();
            e.offset = log.len() as i64;
            log.push(e);
        }
        let mut store = Store::default();
        let mut workers: Vec<Worker> = (0..partitions).map(|_| Worker::new(&settings, 0)).collect();
        // The flushing instance's replica, and another instance's that only polls.
        let mut own = Replica::new(&settings.model);
        let mut other = Replica::new(&settings.model);
        for op in ops {
            match op {
                Op::Deliver { partition, count } => deliver(&mut workers[partition], &logs[partition], count),
                Op::Flush { partition } => flush(&mut workers[partition], &mut own, &mut store, partition, &items, &settings),
                Op::Crash { partition, back } => {
                    let stored = store.offsets.get(&partition).copied().unwrap_or(0) as usize;
                    workers[partition] = Worker::new(&settings, stored.saturating_sub(back));
                }
                Op::Sync => store.sync(&mut other)?,
            }
        }
        for (partition, log) in logs.iter().enumerate() {
            deliver(&mut workers[partition], log, usize::MAX);
            flush(&mut workers[partition], &mut own, &mut store, partition, &items, &settings);
        }
        store.sync(&mut own)?;
        store.sync(&mut other)?;
        let restored = Replica::from_chunks(&settings.model, &own.chunks(3), own.watermarks().clone()).unwrap();

        // The reference: every distinct event once, each user's in order, in one aggregator.
        let mut reference = Aggregator::new(settings.model.clone());
        let mut seen = HashSet::new();
        let distinct: Vec<ActionEvent> = logs.iter().flatten().filter(|e| seen.insert(e.event_id)).cloned().collect();
        let expected = apply_batch(&mut reference, &distinct, 0, &HashSet::new(), &items, &settings);
        for replica in [&own, &other, &restored] {
            assert_counts_equal(&replica.counts(), &expected.counts)?;
        }
        for user in &expected.touched {
            prop_assert_eq!(store.sequences.get(user), reference.user(user));
        }
        prop_assert_eq!(store.processed.len(), distinct.len());
    }
}

#[test]
fn the_longest_idle_sequences_leave_memory_beyond_the_capacity() {
    let settings = RecommenderSettings::default();
    let mut core = Core::new(&settings);
    let users: Vec<Uuid> = (0..20u128).map(Uuid::from_u128).collect();
    for user in &users {
        core.model
            .observe(*user, crate::model::sequence::Interaction::implicit(1, 1));
    }
    core.remember(&users[..10], 15);
    assert!(
        users.iter().all(|u| core.model.knows(u)),
        "below the capacity nothing goes"
    );
    // 20 remembered > 15: down to 13, the ones of the older flush first.
    core.remember(&users[10..], 15);
    assert!(users[10..].iter().all(|u| core.model.knows(u)));
    assert_eq!(users[..10].iter().filter(|u| core.model.knows(u)).count(), 3);
    core.forget(users[19]);
    assert!(!core.model.knows(&users[19]));
}

#[test]
fn a_users_repeats_of_one_action_on_one_item_count_once_in_popularity() {
    let settings = RecommenderSettings::default();
    let items: HashMap<Uuid, Item> = (0..6u32)
        .map(|p| (Uuid::from_u128(0x200 + u128::from(p)), p))
        .collect();
    let popularity_of = |events: &[ActionEvent]| {
        let mut model = Aggregator::new(settings.model.clone());
        let applied = apply_batch(&mut model, events, 0, &HashSet::new(), &items, &settings);
        // Back from the logarithm: the events are near the reference time.
        applied.popularity.get(&0).map_or(0.0, |p| p.exp2())
    };
    // One purchase, and the same user's 500 purchases of the same product.
    let one = vec![event(0, 0, 0, 0, 3, None).0];
    let flood: Vec<ActionEvent> = (0..500).map(|i| event(i, 0, 0, 0, 3, None).0).collect();
    assert_eq!(popularity_of(&flood), popularity_of(&one));
    // Another user's purchase and the first user's view each count.
    let mut more = flood.clone();
    more.push(event(500, 1, 0, 0, 3, None).0);
    more.push(event(501, 0, 0, 0, 0, None).0);
    let view = popularity_of(&[event(0, 0, 0, 0, 0, None).0]);
    let expected = 2.0 * popularity_of(&one) + view;
    assert!((popularity_of(&more) - expected).abs() < 1e-9 * expected);
}

#[test]
fn sequences_of_the_earlier_formats_still_decode() {
    use crate::repository::sequences::{decode, encode};
    let mut sequence = UserSequence {
        position: 3,
        ..UserSequence::default()
    };
    sequence.seen.insert(7, 0b1000);
    let stored = encode(&sequence).unwrap();
    assert_eq!(stored[0], 2);
    assert_eq!(decode(&stored).unwrap(), sequence);
    // Format 1: `seen` was a set (kinds unknown: none counted yet).
    #[derive(serde::Serialize)]
    struct Legacy {
        position: u32,
        last_time: i64,
        recent: std::collections::VecDeque<(Item, u32, f64)>,
        seen: Vec<Item>,
        excluded: Vec<Item>,
    }
    let legacy = Legacy {
        position: 3,
        last_time: 0,
        recent: Default::default(),
        seen: vec![7],
        excluded: vec![],
    };
    let mut bytes = vec![1u8];
    bytes.extend(zstd::bulk::compress(&postcard::to_stdvec(&legacy).unwrap(), 1).unwrap());
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded.seen.get(&7), Some(&0));
    assert_eq!(decoded.position, 3);
}
