//! The report written into docs/benchmarks.md.
use super::*;

pub(super) fn report(
    plan: &Plan,
    seeded: &Seeded,
    seeding: f64,
    ceilings: &Ceilings,
    outcomes: &[Outcome],
    freshness: &[(&str, Option<f64>, Option<f64>)],
    backlog: Backlog,
) -> String {
    let Backlog { drain, lag, alone } = backlog;
    let mut r = String::new();
    let by_name: HashMap<&str, &Outcome> = outcomes.iter().map(|o| (o.name, o)).collect();
    let _ = writeln!(r, "{REPORT_BEGIN}");
    let _ = writeln!(
        r,
        "## Load suite ({}; `benches/load/run`, {} s per attack)\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        plan.seconds
    );
    let _ = writeln!(
        r,
        "Seeded through the public APIs in {seeding:.0} s: {} products in {CATEGORIES} categories, {} users, {} actions \
         (70 % in each user's favourite category, skewed to popular products), then both pipelines drained and every \
         user's list read once (cache filled). Release builds, 2 cores shared by the services, Kafka, PostgreSQL, \
         Redis and the load generators. wrk: {WRK_THREADS} threads, {WRK_CONNECTIONS} connections \
         ({INGESTION_CONNECTIONS} for ingestion, which waits on Kafka's acknowledgements). Freshness is the \
         recommender's histogram (event created → list in Redis) over each Vegeta run. Vegeta runs at {:.0} req/s \
         or half of the peak if lower: a rate it can send while sharing the cores.\n",
        seeded.products.len(),
        seeded.users.len(),
        plan.actions,
        plan.fixed_rate,
    );
    let _ = writeln!(r, "### Ceilings measured in the same run\n");
    let _ = writeln!(r, "| ceiling | figure |\n|---|---|");
    let _ = writeln!(
        r,
        "| bare actix-web handler returning the same {} bytes (wrk, same script) | {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms |",
        seeded.cached_body.len(),
        ceilings.http.requests_per_second,
        ceilings.http.p50_ms,
        ceilings.http.p99_ms
    );
    let _ = writeln!(
        r,
        "| redis-benchmark GET, {} connections | {:.0} req/s |",
        WRK_CONNECTIONS, ceilings.redis_get
    );
    let _ = writeln!(
        r,
        "| Kafka ProducerPerformance, our {}-byte envelopes, acks=all, idempotent, lz4, linger 2 ms | {:.0} records/s |\n",
        ceilings.kafka_record_bytes, ceilings.kafka_records
    );
    let _ = writeln!(r, "### Workloads\n");
    let _ = writeln!(
        r,
        "| workload | peak (wrk) | p50 / p99 at peak | Vegeta at a fixed rate: asked, sent, p50 / p95 / p99 / max | success | errors |\n|---|---|---|---|---|---|"
    );
    for o in outcomes {
        let half = o.half.as_ref().map_or("—".to_owned(), |h| {
            format!(
                "{:.0}/s asked, {:.0}/s sent: {:.2} / {:.2} / {:.2} / {:.1} ms",
                h.requested, h.rate, h.p50, h.p95, h.p99, h.max
            )
        });
        let success = o
            .half
            .as_ref()
            .map_or("—".to_owned(), |h| format!("{:.2} %", h.success * 100.0));
        let errors =
            o.half.as_ref().map_or(0, |h| h.errors.len()) as u64 + o.peak.non_2xx + o.peak.socket_errors;
        let items = if o.items > 1 {
            format!(" = {:.0} actions/s", o.peak.requests_per_second * o.items as f64)
        } else {
            String::new()
        };
        let _ = writeln!(
            r,
            "| `{}`: {} | {:.0} req/s{items} | {:.2} / {:.2} ms | {half} | {success} | {errors} |",
            o.name, o.what, o.peak.requests_per_second, o.peak.p50_ms, o.peak.p99_ms
        );
    }
    let _ = writeln!(r, "\n### Targets\n");
    let _ = writeln!(r, "| target | measured | met |\n|---|---|---|");
    let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
    let http = ceilings.http.requests_per_second;
    let ratio_row = |r: &mut String, name: &str, label: &str, target: f64, aim: Option<f64>| {
        if let Some(o) = by_name.get(name) {
            let ratio = o.peak.requests_per_second / http;
            let aim = aim.map_or(String::new(), |a| format!(" (aim {a}×)"));
            let _ = writeln!(
                r,
                "| {label} ≥ {target}×{aim} the HTTP ceiling | {ratio:.2}× ({:.0} / {http:.0} req/s) | {} |",
                o.peak.requests_per_second,
                verdict(ratio >= target)
            );
        }
    };
    ratio_row(
        &mut r,
        "recommendations_cached",
        "cached recommendation reads",
        0.5,
        Some(0.8),
    );
    if let Some(half) = by_name
        .get("recommendations_cached")
        .and_then(|o| o.half.as_ref())
    {
        // Met only if Vegeta really sent (nearly) the rate asked.
        let sent = half.rate >= 0.95 * half.requested;
        let _ = writeln!(
            r,
            "| cached reads p99 ≤ 2 ms at {:.0} req/s fixed rate | {:.2} ms at {:.0}/s sent | {} |",
            half.requested,
            half.p99,
            half.rate,
            verdict(sent && half.p99 <= 2.0)
        );
    }
    if let Some(o) = by_name.get("actions_single") {
        let _ = writeln!(
            r,
            "| `actions_single` ≥ 15,000 req/s (aim 30,000), acks=all | {:.0} req/s ({:.2}× Kafka's producer rate) | {} |",
            o.peak.requests_per_second,
            o.peak.requests_per_second / ceilings.kafka_records,
            verdict(o.peak.requests_per_second >= 15_000.0)
        );
    }
    if let Some(o) = by_name.get("actions_batched") {
        let actions = o.peak.requests_per_second * o.items as f64;
        let ratio = actions / ceilings.kafka_records;
        let _ = writeln!(
            r,
            "| `actions_batched` ≥ 0.6× (aim 0.9×) Kafka's producer rate | {ratio:.2}× ({actions:.0} / {:.0} actions/s) | {} |",
            ceilings.kafka_records,
            verdict(ratio >= 0.6)
        );
    }
    ratio_row(&mut r, "product_reads", "`product_reads`", 0.5, None);
    ratio_row(&mut r, "analytics_reads", "`analytics_reads`", 0.3, None);
    let flush = recommender::configuration::get_configuration()
        .map(|s| s.recommender.flush_interval_ms as f64 / 1000.0)
        .unwrap_or(1.0);
    for (name, p50, p99) in freshness {
        if let Some(p99) = p99 {
            let _ = writeln!(
                r,
                "| freshness p99 ≤ flush interval + 1 s ({:.1} s) during `{name}` | p50 {:.2} s, p99 {p99:.2} s | {} |",
                flush + 1.0,
                p50.unwrap_or(f64::NAN),
                verdict(*p99 <= flush + 1.0)
            );
        }
    }
    let (drained, met) = match drain {
        Ok(seconds) => (format!("{seconds:.1} s"), seconds <= 30.0),
        Err(left) => (format!("not within 120 s ({left} messages left)"), false),
    };
    let _ = writeln!(
        r,
        "| recommender backlog drained ≤ 30 s after the last burst (`actions_batched`) | {drained} | {} |",
        if met { "yes" } else { "**no**" }
    );
    let _ = writeln!(
        r,
        "\nIngestion alone: `actions_single` at its peak with the recommender and analytics paused (SIGSTOP) \
         for the attack: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; CPU: {}.",
        alone.0.requests_per_second,
        alone.0.p50_ms,
        alone.0.p99_ms,
        alone.1.describe()
    );
    let _ = writeln!(r, "\n### CPU during each peak (% of one core; the box has two)\n");
    let _ = writeln!(r, "| workload | CPU by process |\n|---|---|");
    for o in outcomes {
        let _ = writeln!(r, "| `{}` | {} |", o.name, o.cpu.describe());
    }
    let _ = writeln!(r, "\nConsumer lag left when the suite ended (after the drain above; recommender + analytics): {lag:.0} messages.\n");
    let _ = writeln!(r, "### Latency histograms (Vegeta at the fixed rate)\n");
    for o in outcomes.iter().filter(|o| !o.histogram.is_empty()) {
        let _ = writeln!(r, "`{}`:\n```\n{}```", o.name, o.histogram);
    }
    let _ = writeln!(
        r,
        "\nPlots (`vegeta plot`), results (`*.bin`) and the targets files are in `benches/load/out/` after a run."
    );
    let _ = write!(r, "{REPORT_END}");
    r
}
