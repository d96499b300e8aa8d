//! The overview's figures: what the console reads in the services' `/metrics` (or asks
//! Prometheus), turned into rates, ratios and quantiles over time.
use std::collections::{BTreeMap, VecDeque};

use prometheus_parse::{Sample, Value};

/// Ingested actions per second (the users service's deliveries to `user_actions`).
pub const ACTIONS_PER_S: &str = "actions_per_s";
/// Messages not yet committed, summed per consuming service.
pub const LAG_RECOMMENDER: &str = "lag_recommender";
pub const LAG_ANALYTICS: &str = "lag_analytics";
/// Mean flush duration in milliseconds over the last interval.
pub const FLUSH_MS_RECOMMENDER: &str = "flush_ms_recommender";
pub const FLUSH_MS_ANALYTICS: &str = "flush_ms_analytics";
/// Seconds from an action to its user's updated list, over the last interval.
pub const FRESHNESS_P50: &str = "freshness_p50_s";
pub const FRESHNESS_P99: &str = "freshness_p99_s";
/// Share of lists served from the recommender's caches (memory or Redis).
pub const CACHE_HIT_RATIO: &str = "cache_hit_ratio";

/// Every series, in display order.
pub const SERIES: [&str; 8] = [
    ACTIONS_PER_S,
    LAG_RECOMMENDER,
    LAG_ANALYTICS,
    FLUSH_MS_RECOMMENDER,
    FLUSH_MS_ANALYTICS,
    FRESHNESS_P50,
    FRESHNESS_P99,
    CACHE_HIT_RATIO,
];

/// The PromQL of each series, when Prometheus is configured (the same definitions as
/// [`derive`], over a one-minute rate window).
pub fn promql(series: &str) -> Option<&'static str> {
    Some(match series {
        ACTIONS_PER_S => {
            r#"sum(rate(kafka_produced_total{service="users",topic=~".*user_actions",result="ok"}[1m]))"#
        }
        LAG_RECOMMENDER => r#"sum(kafka_consumer_lag{service="recommender"})"#,
        LAG_ANALYTICS => r#"sum(kafka_consumer_lag{service="analytics"})"#,
        FLUSH_MS_RECOMMENDER => {
            r#"1000 * sum(rate(aggregator_flush_duration_seconds_sum{service="recommender"}[1m])) / sum(rate(aggregator_flush_duration_seconds_count{service="recommender"}[1m]))"#
        }
        FLUSH_MS_ANALYTICS => {
            r#"1000 * sum(rate(aggregator_flush_duration_seconds_sum{service="analytics"}[1m])) / sum(rate(aggregator_flush_duration_seconds_count{service="analytics"}[1m]))"#
        }
        FRESHNESS_P50 => {
            r#"histogram_quantile(0.5, sum by (le) (rate(recommendation_freshness_seconds_bucket[1m])))"#
        }
        FRESHNESS_P99 => {
            r#"histogram_quantile(0.99, sum by (le) (rate(recommendation_freshness_seconds_bucket[1m])))"#
        }
        CACHE_HIT_RATIO => {
            r#"sum(rate(recommendations_served_total{source="cache"}[1m])) / sum(rate(recommendations_served_total[1m]))"#
        }
        _ => return None,
    })
}

/// The counters and gauges of one round of scrapes (`at`: Unix seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Raw {
    pub at: f64,
    pub actions_produced: Option<f64>,
    pub lag: BTreeMap<String, f64>,
    /// Per service: the flush histogram's (sum, count).
    pub flush: BTreeMap<String, (f64, f64)>,
    /// The freshness histogram: (upper bound, cumulative count).
    pub freshness: Vec<(f64, f64)>,
    /// Lists served: (from a cache, all).
    pub served: Option<(f64, f64)>,
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}

impl Raw {
    /// Takes what the overview needs from one service's samples.
    pub fn absorb(&mut self, service: &str, samples: &[Sample]) {
        for sample in samples {
            let value = number(&sample.value);
            match (sample.metric.as_str(), value) {
                ("kafka_produced_total", Some(v))
                    if service == "users"
                        && sample.labels.get("result") == Some("ok")
                        && sample
                            .labels
                            .get("topic")
                            .is_some_and(|t| t.ends_with("user_actions")) =>
                {
                    *self.actions_produced.get_or_insert(0.0) += v;
                }
                ("kafka_consumer_lag", Some(v)) => *self.lag.entry(service.to_owned()).or_default() += v,
                ("aggregator_flush_duration_seconds_sum", Some(v)) => {
                    self.flush.entry(service.to_owned()).or_default().0 += v;
                }
                ("aggregator_flush_duration_seconds_count", Some(v)) => {
                    self.flush.entry(service.to_owned()).or_default().1 += v;
                }
                ("recommendations_served_total", Some(v)) => {
                    let served = self.served.get_or_insert((0.0, 0.0));
                    if sample.labels.get("source") == Some("cache") {
                        served.0 += v;
                    }
                    served.1 += v;
                }
                ("recommendation_freshness_seconds", None) => {
                    if let Value::Histogram(buckets) = &sample.value {
                        self.freshness = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                    }
                }
                _ => {}
            }
        }
    }
}

/// The series' values between two rounds of scrapes; a series without data in the interval
/// (nothing flushed, no list served, a service not answering) has no value.
pub fn derive(previous: &Raw, now: &Raw) -> Vec<(&'static str, f64)> {
    let mut out = Vec::new();
    let seconds = now.at - previous.at;
    if seconds <= 0.0 {
        return out;
    }
    if let (Some(a), Some(b)) = (previous.actions_produced, now.actions_produced) {
        // A restarted service starts its counters again: no rate across a reset.
        if b >= a {
            out.push((ACTIONS_PER_S, (b - a) / seconds));
        }
    }
    for (service, name) in [("recommender", LAG_RECOMMENDER), ("analytics", LAG_ANALYTICS)] {
        if let Some(lag) = now.lag.get(service) {
            out.push((name, *lag));
        }
    }
    for (service, name) in [
        ("recommender", FLUSH_MS_RECOMMENDER),
        ("analytics", FLUSH_MS_ANALYTICS),
    ] {
        if let (Some((s0, c0)), Some((s1, c1))) = (previous.flush.get(service), now.flush.get(service)) {
            if c1 > c0 && s1 >= s0 {
                out.push((name, 1000.0 * (s1 - s0) / (c1 - c0)));
            }
        }
    }
    if previous.freshness.len() == now.freshness.len() {
        let delta: Vec<(f64, f64)> = previous
            .freshness
            .iter()
            .zip(&now.freshness)
            .map(|((le, a), (_, b))| (*le, b - a))
            .collect();
        for (q, name) in [(0.5, FRESHNESS_P50), (0.99, FRESHNESS_P99)] {
            if let Some(v) = quantile(q, &delta) {
                out.push((name, v));
            }
        }
    }
    if let (Some((h0, t0)), Some((h1, t1))) = (previous.served, now.served) {
        if t1 > t0 && h1 >= h0 {
            out.push((CACHE_HIT_RATIO, (h1 - h0) / (t1 - t0)));
        }
    }
    out
}

/// The `q` quantile of a cumulative histogram (upper bounds ascending, the last `+Inf`),
/// interpolated linearly inside its bucket as Prometheus' `histogram_quantile` does; `None`
/// without observations. A quantile in the `+Inf` bucket is the largest finite bound.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let inside = count - lower.1;
            let share = if inside > 0.0 {
                (rank - lower.1) / inside
            } else {
                1.0
            };
            return Some(lower.0 + (le - lower.0) * share);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// The last minutes of every series (`(Unix seconds, value)`, oldest first), bounded.
#[derive(Debug, Clone, Default)]
pub struct History {
    capacity: usize,
    series: BTreeMap<&'static str, VecDeque<(f64, f64)>>,
}

impl History {
    /// Keeps at most `capacity` points per series.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(2),
            series: BTreeMap::new(),
        }
    }

    /// Adds a round's values at `at`.
    pub fn push(&mut self, at: f64, values: &[(&'static str, f64)]) {
        for &(name, value) in values {
            let points = self.series.entry(name).or_default();
            points.push_back((at, value));
            while points.len() > self.capacity {
                points.pop_front();
            }
        }
    }

    /// A series' points, oldest first.
    pub fn points(&self, name: &str) -> Vec<(f64, f64)> {
        self.series
            .get(name)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A series' latest value.
    pub fn latest(&self, name: &str) -> Option<f64> {
        self.series.get(name).and_then(|p| p.back()).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Sample> {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .unwrap()
            .samples
    }

    const RECOMMENDER: &str = r#"
# TYPE kafka_consumer_lag gauge
kafka_consumer_lag{partition="0",service="recommender",topic="user_actions"} 3
kafka_consumer_lag{partition="1",service="recommender",topic="user_actions"} 4
# TYPE aggregator_flush_duration_seconds histogram
aggregator_flush_duration_seconds_bucket{service="recommender",le="0.1"} 9
aggregator_flush_duration_seconds_bucket{service="recommender",le="+Inf"} 10
aggregator_flush_duration_seconds_sum{service="recommender"} 0.5
aggregator_flush_duration_seconds_count{service="recommender"} 10
# TYPE recommendation_freshness_seconds histogram
recommendation_freshness_seconds_bucket{service="recommender",le="0.5"} 10
recommendation_freshness_seconds_bucket{service="recommender",le="1"} 20
recommendation_freshness_seconds_bucket{service="recommender",le="+Inf"} 20
recommendation_freshness_seconds_sum{service="recommender"} 12
recommendation_freshness_seconds_count{service="recommender"} 20
# TYPE recommendations_served_total counter
recommendations_served_total{service="recommender",source="cache"} 90
recommendations_served_total{service="recommender",source="database"} 10
"#;

    #[test]
    fn a_scrape_yields_lag_flushes_freshness_and_served_lists() {
        let mut raw = Raw::default();
        raw.absorb("recommender", &parse(RECOMMENDER));
        raw.absorb(
            "users",
            &parse("# TYPE kafka_produced_total counter\nkafka_produced_total{result=\"ok\",service=\"users\",topic=\"t1.user_actions\"} 40\nkafka_produced_total{result=\"error\",service=\"users\",topic=\"t1.user_actions\"} 2\nkafka_produced_total{result=\"ok\",service=\"users\",topic=\"t1.user_updates\"} 5\n"),
        );
        assert_eq!(raw.actions_produced, Some(40.0));
        assert_eq!(raw.lag["recommender"], 7.0);
        assert_eq!(raw.flush["recommender"], (0.5, 10.0));
        assert_eq!(
            raw.freshness,
            vec![(0.5, 10.0), (1.0, 20.0), (f64::INFINITY, 20.0)]
        );
        assert_eq!(raw.served, Some((90.0, 100.0)));
    }

    #[test]
    fn rates_and_means_come_from_the_difference_between_rounds() {
        let before = Raw {
            at: 100.0,
            actions_produced: Some(40.0),
            flush: [("recommender".to_owned(), (0.5, 10.0))].into(),
            freshness: vec![(0.5, 10.0), (1.0, 20.0), (f64::INFINITY, 20.0)],
            served: Some((90.0, 100.0)),
            ..Raw::default()
        };
        let after = Raw {
            at: 102.0,
            actions_produced: Some(60.0),
            lag: [("analytics".to_owned(), 5.0)].into(),
            flush: [("recommender".to_owned(), (0.9, 12.0))].into(),
            freshness: vec![(0.5, 10.0), (1.0, 24.0), (f64::INFINITY, 24.0)],
            served: Some((99.0, 110.0)),
        };
        let values: BTreeMap<&str, f64> = derive(&before, &after).into_iter().collect();
        assert_eq!(values[ACTIONS_PER_S], 10.0);
        assert_eq!(values[LAG_ANALYTICS], 5.0);
        assert!((values[FLUSH_MS_RECOMMENDER] - 200.0).abs() < 1e-9);
        // The four new observations all fell in (0.5, 1]: the median is its middle.
        assert!((values[FRESHNESS_P50] - 0.75).abs() < 1e-9);
        assert!((values[CACHE_HIT_RATIO] - 0.9).abs() < 1e-9);
        assert!(!values.contains_key(FLUSH_MS_ANALYTICS));
        assert!(!values.contains_key(LAG_RECOMMENDER));
    }

    #[test]
    fn a_restarted_service_gives_no_rate_and_an_empty_histogram_no_quantile() {
        let before = Raw {
            at: 1.0,
            actions_produced: Some(500.0),
            ..Raw::default()
        };
        let after = Raw {
            at: 3.0,
            actions_produced: Some(3.0),
            ..Raw::default()
        };
        assert!(derive(&before, &after).is_empty());
        assert_eq!(quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
        assert_eq!(quantile(0.99, &[(1.0, 1.0), (f64::INFINITY, 100.0)]), Some(1.0));
    }

    #[test]
    fn history_keeps_the_latest_points_of_each_series() {
        let mut history = History::new(2);
        history.push(1.0, &[(ACTIONS_PER_S, 1.0)]);
        history.push(2.0, &[(ACTIONS_PER_S, 2.0), (LAG_ANALYTICS, 7.0)]);
        history.push(3.0, &[(ACTIONS_PER_S, 3.0)]);
        assert_eq!(history.points(ACTIONS_PER_S), vec![(2.0, 2.0), (3.0, 3.0)]);
        assert_eq!(history.latest(LAG_ANALYTICS), Some(7.0));
        assert_eq!(history.latest(CACHE_HIT_RATIO), None);
        assert!(SERIES.iter().all(|s| promql(s).is_some()));
    }
}
