//! UTC time buckets of the statistics.
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A bucket width.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    /// Every width, finest first.
    pub const ALL: [Bucket; 3] = [Bucket::Minute, Bucket::Hour, Bucket::Day];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    fn width(self) -> TimeDelta {
        match self {
            Bucket::Minute => TimeDelta::minutes(1),
            Bucket::Hour => TimeDelta::hours(1),
            Bucket::Day => TimeDelta::days(1),
        }
    }

    /// The start (UTC) of the bucket holding `at`.
    pub fn start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.width()).unwrap_or(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn buckets_start_at_utc_boundaries() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 22, 59, 59).unwrap() + TimeDelta::milliseconds(999);
        assert_eq!(
            Bucket::Minute.start(at),
            Utc.with_ymd_and_hms(2026, 11, 28, 22, 59, 0).unwrap()
        );
        assert_eq!(
            Bucket::Hour.start(at),
            Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap()
        );
        assert_eq!(
            Bucket::Day.start(at),
            Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap()
        );
    }
}
