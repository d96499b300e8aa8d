//! The attacks: wrk for each peak (with the CPU sampled), Vegeta at a fixed rate, and ingestion alone.
use super::*;

pub(super) fn attack(
    plan: &Plan,
    targets: &Targets,
    name: &'static str,
    what: &str,
    items: usize,
) -> anyhow::Result<Outcome> {
    let vegeta_file = targets.vegeta(name);
    let (peak, cpu) = cpu::during(plan.seconds, || measure_peak(plan, targets, name, items));
    let peak = peak?;
    let half_rate = (peak.requests_per_second / 2.0).floor().min(plan.fixed_rate);
    let before = recommender_metrics();
    let half = (half_rate >= 1.0)
        .then(|| vegeta(plan, name, &vegeta_file, half_rate))
        .transpose()?;
    let freshness_window = match (before, recommender_metrics()) {
        (Some(before), Some(after)) => Some(subtract_histogram(
            &after,
            &before,
            "recommendation_freshness_seconds",
        )),
        _ => None,
    };
    let histogram = if half.is_some() {
        vegeta_histogram(plan, name)?
    } else {
        String::new()
    };
    Ok(Outcome {
        name,
        what: what.to_owned(),
        peak,
        items,
        half,
        histogram,
        cpu,
        freshness_window,
    })
}

/// The workload's peak: wrk on its service, or for the mix (which spans services) Vegeta
/// unthrottled.
pub(super) fn measure_peak(
    plan: &Plan,
    targets: &Targets,
    name: &str,
    items: usize,
) -> anyhow::Result<WrkResult> {
    let vegeta_file = targets.vegeta(name);
    if name == "mixed" {
        // The mix spans services, which one wrk run cannot: its peak is Vegeta's, unthrottled.
        let peak = vegeta(plan, name, &vegeta_file, 0.0)?;
        Ok(WrkResult {
            requests_per_second: peak.throughput,
            p50_ms: peak.p50,
            p99_ms: peak.p99,
            non_2xx: 0,
            socket_errors: peak.errors.len() as u64,
        })
    } else {
        let base = first_base(&vegeta_file)?;
        let mut headers = vec![format!("X-API-Key: {}", key_for(&base))];
        if items > 0 && name.starts_with("actions") {
            headers.push("Content-Type: application/json".to_owned());
        }
        // Ingestion waits for Kafka's acknowledgement: latency-bound, it needs more requests
        // in flight than reads to reach its peak.
        let connections = if name.starts_with("actions") {
            INGESTION_CONNECTIONS
        } else {
            WRK_CONNECTIONS
        };
        wrk_with(
            &base,
            WRK_THREADS,
            connections,
            plan.seconds,
            &headers,
            Some((&script(plan), &targets.wrk(name))),
        )
    }
}

/// `actions_single` at its peak with the recommender and analytics paused (SIGSTOP, then
/// SIGCONT whatever happens): what ingestion alone does on these cores. Run last: a consumer
/// paused for the length of an attack may have to rejoin its group.
pub(super) fn ingestion_alone(plan: &Plan, targets: &Targets) -> anyhow::Result<(WrkResult, CpuShare)> {
    let pids: Vec<String> = ["recommender", "analytics"]
        .iter()
        .map(|svc| std::fs::read_to_string(plan.root.join(format!(".infra/run/{svc}.pid"))))
        .collect::<Result<Vec<String>, _>>()
        .context("the consumers' pid files (scripts/run up writes them)")?
        .into_iter()
        .map(|pid| pid.trim().to_owned())
        .collect();
    let signal = |sig: &str| {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .args(&pids)
            .status()
            .map(|s| s.success())
    };
    anyhow::ensure!(signal("STOP")?, "could not pause the consumers");
    let (peak, cpu) = cpu::during(plan.seconds, || measure_peak(plan, targets, "actions_single", 1));
    let resumed = signal("CONT");
    anyhow::ensure!(
        resumed?,
        "could not resume the consumers ({pids:?}): kill -CONT them"
    );
    Ok((peak?, cpu))
}

/// The recommender's `/metrics` (curl: this part of the suite is synchronous).
pub(super) fn recommender_metrics() -> Option<String> {
    let output = Command::new("curl")
        .args(["-s", &format!("{RECOMMENDER_URL}/metrics")])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

pub(super) fn first_base(vegeta_file: &Path) -> anyhow::Result<String> {
    let first = std::fs::read_to_string(vegeta_file)?
        .lines()
        .next()
        .map(str::to_owned)
        .context("an empty targets file")?;
    let url = serde_json::from_str::<Value>(&first)?["url"]
        .as_str()
        .context("a url")?
        .to_owned();
    Ok(url.split("/api/").next().unwrap_or(&url).to_owned())
}

/// `vegeta attack` at `rate` per second (0: as fast as 32 workers go), keeping the results
/// file for the histogram and plot; its JSON report in milliseconds.
pub(super) fn vegeta(plan: &Plan, name: &str, targets: &Path, rate: f64) -> anyhow::Result<VegetaResult> {
    let results = plan.out.join(format!("{name}.bin"));
    let mut attack = Command::new(vegeta_binary());
    attack
        .arg("attack")
        .arg(format!("-targets={}", targets.display()))
        .args(["-format=json", &format!("-duration={}s", plan.seconds)])
        .arg(format!("-output={}", results.display()));
    if rate > 0.0 {
        attack.arg(format!("-rate={rate}/s"));
    } else {
        attack.args(["-rate=0", "-max-workers=32"]);
    }
    let status = attack
        .status()
        .context("vegeta is not runnable (benches/load/run installs it)")?;
    anyhow::ensure!(status.success(), "vegeta attack failed: {status}");
    let report = Command::new(vegeta_binary())
        .args(["report", "-type=json"])
        .arg(&results)
        .output()?;
    let report: Value = serde_json::from_slice(&report.stdout)?;
    let ms = |key: &str| report["latencies"][key].as_f64().unwrap_or(f64::NAN) / 1e6;
    let errors = report["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if name == "mixed" || rate > 0.0 {
        // An interactive plot per workload, next to the results (not committed: ~1 MB each).
        let plot = Command::new(vegeta_binary()).arg("plot").arg(&results).output()?;
        std::fs::write(plan.out.join(format!("{name}.html")), plot.stdout)?;
    }
    Ok(VegetaResult {
        requested: rate,
        rate: report["rate"].as_f64().unwrap_or(0.0),
        throughput: report["throughput"].as_f64().unwrap_or(0.0),
        p50: ms("50th"),
        p95: ms("95th"),
        p99: ms("99th"),
        max: ms("max"),
        success: report["success"].as_f64().unwrap_or(0.0),
        errors,
    })
}

pub(super) fn vegeta_histogram(plan: &Plan, name: &str) -> anyhow::Result<String> {
    let output = Command::new(vegeta_binary())
        .args(["report", "-type=hist[0,1ms,2ms,5ms,10ms,25ms,50ms,100ms,250ms]"])
        .arg(plan.out.join(format!("{name}.bin")))
        .output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub(super) fn vegeta_binary() -> String {
    std::env::var("VEGETA").unwrap_or_else(|_| "vegeta".to_owned())
}
