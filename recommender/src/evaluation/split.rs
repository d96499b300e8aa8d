//! Splits. `user_time`: per user, rows sorted by (timestamp, file position); the first
//! round_half_even(0.8 · n) are train, the rest test. `random_user`: per user, a seeded random
//! share of the rows is train (how the random_user files were made; used here to carve a
//! validation split of that kind from their train part).
use std::collections::BTreeMap;

use super::dataset::Rating;

/// Train and test parts.
pub struct Split {
    pub train: Vec<Rating>,
    pub test: Vec<Rating>,
}

/// Splits `ratings` per user by time with `train_share` (0.8 in the protocol).
pub fn user_time(ratings: &[Rating], train_share: f64) -> Split {
    let mut by_user: BTreeMap<u32, Vec<Rating>> = BTreeMap::new();
    for r in ratings {
        by_user.entry(r.user).or_default().push(*r);
    }
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for rows in by_user.values_mut() {
        rows.sort_by_key(|r| (r.time, r.row));
        let n_train = (train_share * rows.len() as f64).round_ties_even() as usize;
        split.train.extend_from_slice(&rows[..n_train]);
        split.test.extend_from_slice(&rows[n_train..]);
    }
    split
}

/// Splits `ratings` per user at random: round_half_even(`train_share` · n) rows of each user are
/// train, chosen by a seeded hash of (seed, user, row), so the same seed gives the same split on
/// every machine; rows keep their file order.
pub fn random_user(ratings: &[Rating], train_share: f64, seed: u64) -> Split {
    let mut by_user: BTreeMap<u32, Vec<Rating>> = BTreeMap::new();
    for r in ratings {
        by_user.entry(r.user).or_default().push(*r);
    }
    let mut split = Split {
        train: Vec::new(),
        test: Vec::new(),
    };
    for rows in by_user.values_mut() {
        let n_train = (train_share * rows.len() as f64).round_ties_even() as usize;
        let mut order: Vec<(u64, usize)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (mix(seed ^ mix(u64::from(r.user)) ^ mix(r.row as u64 + 1)), i))
            .collect();
        order.sort_unstable();
        let mut is_train = vec![false; rows.len()];
        for &(_, i) in &order[..n_train] {
            is_train[i] = true;
        }
        for (r, train) in rows.iter().zip(is_train) {
            if train {
                split.train.push(*r);
            } else {
                split.test.push(*r);
            }
        }
    }
    split
}

/// A 64-bit finaliser (splitmix64's): well-spread, the same everywhere.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, time: i64, row: usize) -> Rating {
        Rating {
            user,
            item,
            time,
            row,
        }
    }

    #[test]
    fn the_earliest_80_percent_of_each_user_are_train() {
        let ratings: Vec<Rating> = (0..5)
            .map(|i| r(1, i, 100 - i as i64, i as usize))
            .chain([r(2, 9, 1, 5)])
            .collect();
        let split = user_time(&ratings, 0.8);
        let test: Vec<u32> = split.test.iter().map(|r| r.item).collect();
        // User 1's latest is item 0 (time 100); user 2 has one row: round(0.8) = 1 train row.
        assert_eq!(test, vec![0]);
        assert_eq!(split.train.len(), 5);
    }

    #[test]
    fn equal_timestamps_are_ordered_by_file_position() {
        let ratings = vec![
            r(1, 7, 5, 1),
            r(1, 8, 5, 0),
            r(1, 9, 4, 2),
            r(1, 1, 6, 3),
            r(1, 2, 6, 4),
        ];
        let split = user_time(&ratings, 0.8);
        let train: Vec<u32> = split.train.iter().map(|r| r.item).collect();
        assert_eq!(train, vec![9, 8, 7, 1]);
    }

    #[test]
    fn random_user_keeps_each_users_share_and_is_deterministic() {
        let ratings: Vec<Rating> = (0..40).map(|i| r(i % 2, i, i as i64, i as usize)).collect();
        let split = random_user(&ratings, 0.75, 42);
        assert_eq!(split.train.len(), 30);
        assert_eq!(split.train.iter().filter(|r| r.user == 0).count(), 15);
        let again = random_user(&ratings, 0.75, 42);
        let items = |s: &Split| s.test.iter().map(|r| r.item).collect::<Vec<_>>();
        assert_eq!(items(&split), items(&again));
        assert_ne!(items(&split), items(&random_user(&ratings, 0.75, 7)));
        // Not simply the latest rows (that would be user_time).
        assert_ne!(items(&split), items(&user_time(&ratings, 0.75)));
    }
}
