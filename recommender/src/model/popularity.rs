//! Time-decayed popularity, kept as a base-2 logarithm.
//!
//! An item's popularity at time `T` is `Σ w · 2^(−(T − t) / h)` over the actions on it (weight
//! `w` at time `t`, half-life `h`). Ranking at one moment is unchanged by the common factor
//! `2^(−(T − E) / h)`, so the state keeps `Σ w · 2^((t − E) / h)` for a fixed reference `E`: a
//! plain sum of per-event increments that partitions and replicas can add in any order. Kept
//! as such, the sum overflows `f64` once `t − E` passes 1,024 half-lives (43 days at a 1 h
//! half-life); kept as its logarithm `log2 Σ …` it grows by one per half-life and never does.
//! Increments are combined with a log-sum-exp ([`add`]).
//!
//! [`NONE`] (−∞) is "no popularity": the logarithm of an empty sum.

/// The popularity of an item nobody acted on: `log2(0)`.
pub const NONE: f64 = f64::NEG_INFINITY;

/// The reference time `E`, 2026-01-01T00:00:00Z in milliseconds. In log space any fixed
/// reference works; a recent one keeps the stored values small.
pub const REFERENCE_MS: i64 = 1_767_225_600_000;

/// The increment of one action of weight `weight` at `time_ms`, as a logarithm; `None` for a
/// weight that is not positive (popularity counts interest, and `log2` of it is undefined).
pub fn term(weight: f64, time_ms: i64, half_life_ms: f64) -> Option<f64> {
    (weight > 0.0 && weight.is_finite() && half_life_ms > 0.0)
        .then(|| weight.log2() + (time_ms - REFERENCE_MS) as f64 / half_life_ms)
}

/// `log2(2^a + 2^b)`, exact for [`NONE`] on either side and free of overflow.
pub fn add(a: f64, b: f64) -> f64 {
    if a == NONE {
        return b;
    }
    if b == NONE {
        return a;
    }
    let (high, low) = if a >= b { (a, b) } else { (b, a) };
    high + (low - high).exp2().ln_1p() / std::f64::consts::LN_2
}

/// `popularity` as a fraction of `top` (both logarithms): 1 for the top item, 0 for none.
pub fn relative(popularity: f64, top: f64) -> f64 {
    // NONE (−∞) is not finite either.
    if !top.is_finite() {
        return 0.0;
    }
    (popularity - top).exp2()
}

/// The logarithm of a sum stored before popularity moved to log space (delta records of
/// format 1 and the count tables before them); sums that are not positive mean none.
pub fn from_linear(sum: f64) -> f64 {
    if sum > 0.0 && sum.is_finite() {
        sum.log2()
    } else {
        NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR_MS: f64 = 3_600_000.0;

    #[test]
    fn a_year_of_hourly_half_lives_stays_finite_and_ranks_recent_actions_first() {
        // 8,760 half-lives after the reference: 2^8760 overflows f64, its logarithm does not.
        let late = REFERENCE_MS + 365 * 24 * 3_600_000;
        let recent = term(1.0, late, HOUR_MS).unwrap();
        // A thousand purchases two hours earlier weigh 5,000 · 2^-2 = 1,250 now.
        let older = (0..1000).fold(NONE, |sum, _| {
            add(sum, term(5.0, late - 7_200_000, HOUR_MS).unwrap())
        });
        assert!(recent.is_finite() && older.is_finite());
        assert!((older - recent - 1250f64.log2()).abs() < 1e-6);
        // A day later one view outweighs them all.
        let next_day = term(1.0, late + 24 * 3_600_000, HOUR_MS).unwrap();
        assert!(next_day > older);
        assert!((relative(recent, older) - 1.0 / 1250.0).abs() < 1e-9);
    }

    #[test]
    fn non_positive_weights_count_nothing_and_none_is_neutral() {
        assert_eq!(term(0.0, REFERENCE_MS, HOUR_MS), None);
        assert_eq!(term(-1.0, REFERENCE_MS, HOUR_MS), None);
        assert_eq!(add(NONE, NONE), NONE);
        assert_eq!(add(NONE, 3.5), 3.5);
        assert_eq!(add(3.5, NONE), 3.5);
        assert_eq!(relative(NONE, 2.0), 0.0);
        assert_eq!(relative(2.0, NONE), 0.0);
        assert_eq!(from_linear(0.0), NONE);
        assert_eq!(from_linear(8.0), 3.0);
    }

    proptest! {
        #[test]
        fn adding_logarithms_is_adding_the_sums(values in prop::collection::vec(0.001f64..1e6, 1..40)) {
            let linear: f64 = values.iter().sum();
            let forward = values.iter().fold(NONE, |s, v| add(s, v.log2()));
            let backward = values.iter().rev().fold(NONE, |s, v| add(s, v.log2()));
            prop_assert!((forward - linear.log2()).abs() < 1e-9);
            prop_assert!((forward - backward).abs() < 1e-9);
        }
    }
}
