//! Helpers shared by the benchmarks: timing, percentiles from Prometheus histograms, wrk.
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `f` and returns its result with the seconds it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed().as_secs_f64())
}

/// A quantile (0..1) of a Prometheus histogram in `/metrics` text, by linear interpolation
/// inside the bucket; `None` without observations.
pub fn histogram_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let target = q * total;
    let mut previous = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= target {
            if bound.is_infinite() {
                return Some(previous.0);
            }
            let share = if count > previous.1 {
                (target - previous.1) / (count - previous.1)
            } else {
                1.0
            };
            return Some(previous.0 + share * (bound - previous.0));
        }
        previous = (bound, count);
    }
    None
}

/// The sum and count of a histogram (its mean is sum / count).
pub fn histogram_mean(metrics: &str, name: &str) -> Option<f64> {
    let value = |suffix: &str| -> Option<f64> {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}_{suffix}")))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()
    };
    let (sum, count) = (value("sum")?, value("count")?);
    (count > 0.0).then(|| sum / count)
}

/// The histogram `name` of `after` minus that of `before` (two `/metrics` texts): what was
/// observed in between, for [`histogram_quantile`].
pub fn subtract_histogram(after: &str, before: &str, name: &str) -> String {
    let buckets = |text: &str| -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket")))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect()
    };
    let old: HashMap<String, f64> = buckets(before).into_iter().collect();
    buckets(after)
        .into_iter()
        .map(|(series, value)| format!("{series} {}", value - old.get(&series).copied().unwrap_or(0.0)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// wrk's summary of one run.
#[derive(Debug)]
pub struct WrkResult {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    /// connect, read, write errors and timeouts.
    pub socket_errors: u64,
}

/// Runs `wrk --latency` against `url` with extra headers; fails if wrk is not installed.
pub fn wrk(
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u32,
    headers: &[String],
) -> anyhow::Result<WrkResult> {
    wrk_with(url, threads, connections, seconds, headers, None)
}

/// [`wrk`] with a Lua `script` and the requests file it reads (`$WRK_TARGETS`).
pub fn wrk_with(
    url: &str,
    threads: u32,
    connections: u32,
    seconds: u32,
    headers: &[String],
    script: Option<(&Path, &Path)>,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    if let Some((script, targets)) = script {
        command.arg("--script").arg(script).env("WRK_TARGETS", targets);
    }
    command.args([
        "--latency",
        "-t",
        &threads.to_string(),
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{seconds}s"),
    ]);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("wrk not runnable ({e}); apt-get install wrk"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let find = |prefix: &str| -> Option<&str> { text.lines().find(|l| l.trim_start().starts_with(prefix)) };
    let millis = |line: Option<&str>| -> f64 {
        let value = line.and_then(|l| l.split_whitespace().nth(1)).unwrap_or("0");
        let (number, factor) = if let Some(v) = value.strip_suffix("us") {
            (v, 0.001)
        } else if let Some(v) = value.strip_suffix("ms") {
            (v, 1.0)
        } else if let Some(v) = value.strip_suffix('s') {
            (v, 1000.0)
        } else {
            (value, 1.0)
        };
        number.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    let rps = find("Requests/sec:")
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let non_2xx = find("Non-2xx")
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let socket_errors = find("Socket errors:").map_or(0, |l| {
        l.split(',')
            .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    });
    Ok(WrkResult {
        requests_per_second: rps,
        p50_ms: millis(find("50%")),
        p99_ms: millis(find("99%")),
        non_2xx,
        socket_errors,
    })
}

/// The consumer lag on `user_actions` in a service's `/metrics` text, `None` while the service
/// has not reported it for any partition yet or reports an unknown (-1) one (right after a
/// start): a missing gauge must not read as "no lag".
pub fn actions_lag(metrics: &str) -> Option<f64> {
    let lags: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("kafka_consumer_lag{") && l.contains("user_actions\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    // librdkafka reports -1 while a partition's position is unknown (nothing fetched yet).
    (!lags.is_empty() && lags.iter().all(|l| *l >= 0.0)).then(|| lags.iter().sum())
}

/// Replaces the text between `begin` and `end` (markers included, `section` carries both) in
/// the file at `path`, or appends `section` if the markers are not there yet.
pub fn replace_section(path: &Path, begin: &str, end: &str, section: &str) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let updated = match (current.find(begin), current.find(end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{section}{}", &current[..b], &current[e + end.len()..])
        }
        _ => format!("{}\n\n{section}\n", current.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// Waits (at most 15 min) until every service behind `roots` (`http://host:port`) reports no
/// lag on `user_actions` twice in a row, 6 s apart (lag comes with librdkafka's statistics).
pub async fn wait_until_drained(roots: &[&str]) -> anyhow::Result<()> {
    // A connection of its own per GET: an attack leaves pooled connections the server closed.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    let mut zero_in_a_row = 0;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    while zero_in_a_row < 2 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the pipelines did not drain in 15 min"
        );
        let mut lag = Some(0.0);
        for root in roots {
            let metrics = client.get(format!("{root}/metrics")).send().await?.text().await?;
            lag = lag.zip(actions_lag(&metrics)).map(|(a, b)| a + b);
        }
        zero_in_a_row = if lag == Some(0.0) { zero_in_a_row + 1 } else { 0 };
        tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    }
    Ok(())
}

/// Sends a create request; the `id` of the 201 answer (anything else is an error naming it).
pub async fn created_id(request: reqwest::RequestBuilder) -> anyhow::Result<uuid::Uuid> {
    let response = request.send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status == 201, "create answered {status}: {body}");
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no id in the answer: {body}"))
}
