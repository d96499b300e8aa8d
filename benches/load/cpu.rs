//! Where the CPU went during a run: each process's user + system time from `/proc`, summed by
//! name, sampled inside the run (a load generator that has exited no longer shows there).
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The processes of the system and of the load tools, by their `comm` name.
const WATCHED: [&str; 9] = [
    "users",
    "products",
    "recommender",
    "analytics",
    "java",
    "postgres",
    "redis-server",
    "wrk",
    "vegeta",
];

/// CPU use over a stretch of time, per process name, in % of one core.
#[derive(Debug, Default, Clone)]
pub struct CpuShare(pub Vec<(String, f64)>);

impl CpuShare {
    /// "recommender 126 %, postgres 57 %, ..." (largest first, under 2 % left out).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(_, share)| *share >= 2.0)
            .map(|(name, share)| format!("{name} {share:.0} %"))
            .collect();
        if parts.is_empty() {
            "—".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Runs `work` (which lasts about `seconds`) while sampling CPU time from its 1st to its
/// (seconds − 1)th second.
pub fn during<T>(seconds: u32, work: impl FnOnce() -> T) -> (T, CpuShare) {
    let sampler = std::thread::spawn(move || {
        let window = Duration::from_secs(u64::from(seconds.saturating_sub(2).max(1)));
        std::thread::sleep(Duration::from_secs(1));
        let (first, started) = (ticks(), Instant::now());
        std::thread::sleep(window);
        share(&first, &ticks(), started.elapsed())
    });
    let result = work();
    let share = sampler.join().unwrap_or_default();
    (result, share)
}

fn share(before: &HashMap<String, u64>, after: &HashMap<String, u64>, elapsed: Duration) -> CpuShare {
    let hz = clock_ticks_per_second();
    let mut shares: Vec<(String, f64)> = after
        .iter()
        .map(|(name, t)| {
            let used = t.saturating_sub(*before.get(name).unwrap_or(&0)) as f64 / hz;
            (name.clone(), 100.0 * used / elapsed.as_secs_f64())
        })
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    CpuShare(shares)
}

/// User + system ticks of every watched process, summed by name.
fn ticks() -> HashMap<String, u64> {
    let mut sums = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return sums;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ..." — comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        if !WATCHED.contains(&name) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state is field 0, utime 11, stime 12.
        let time = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        *sums.entry(name.to_owned()).or_insert(0) += time(11) + time(12);
    }
    sums
}

/// `getconf CLK_TCK` (100 on Linux when it cannot be asked).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|hz| *hz > 0.0)
        .unwrap_or(100.0)
}
