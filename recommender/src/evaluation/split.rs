//! The `user_time` split: per user, rows sorted by (timestamp, file position); the first
//! round_half_even(0.8 · n) are train, the rest test.
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
}
