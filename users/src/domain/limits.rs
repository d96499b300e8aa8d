//! Abuse limits of the users service: logins and registrations per client address and per
//! account, a growing backoff for an account whose password is being guessed, a bound on
//! concurrent password hashes (argon2id takes 19 MiB and tens of milliseconds each), and actions
//! per user. Counted in this process (each instance counts its own requests: with N instances
//! behind a balancer an attacker gets up to N times the quota; configure for that).
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// The `users.limits` configuration section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Login attempts per client address per minute.
    pub login_per_ip_per_minute: u32,
    /// Login attempts per account (e-mail) per minute, whatever the address.
    pub login_per_account_per_minute: u32,
    /// Registrations per client address per hour.
    pub registrations_per_ip_per_hour: u32,
    /// Consecutive failed logins of an account from which each further attempt must wait (1 s
    /// after the last failure, doubling with each further failure).
    pub failures_before_backoff: u32,
    /// Longest wait of that backoff.
    pub max_backoff_seconds: u64,
    /// Password hashes computed at once; 0: one per core. More wait up to `hash_wait_ms`.
    pub concurrent_hashes: usize,
    /// How long a request waits for a hashing slot before a 503.
    pub hash_wait_ms: u64,
    /// Actions a user may post per second, sustained (their own or through the ingest key).
    pub actions_per_user_per_second: u32,
    /// Actions a user may post at once (one batch counts each action).
    pub actions_burst_per_user: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
            registrations_per_ip_per_hour: 20,
            failures_before_backoff: 5,
            max_backoff_seconds: 900,
            concurrent_hashes: 0,
            hash_wait_ms: 1000,
            actions_per_user_per_second: 100,
            actions_burst_per_user: 1000,
        }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Over a quota or inside a backoff: retry after the duration (429).
    #[error("too many requests; retry in {0:?}")]
    TooMany(Duration),
    /// Every hashing slot is busy (503).
    #[error("every password hashing slot is busy")]
    Busy,
}

/// Consecutive failed logins of one account.
struct Failures {
    count: u32,
    last: Instant,
}

/// The limits and their counters.
pub struct Limits {
    settings: LimitSettings,
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_account: DefaultKeyedRateLimiter<String>,
    register_ip: DefaultKeyedRateLimiter<IpAddr>,
    actions: DefaultKeyedRateLimiter<Uuid>,
    failures: Mutex<HashMap<String, Failures>>,
    hashing: Semaphore,
    clock: DefaultClock,
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        let slots = if settings.concurrent_hashes == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            settings.concurrent_hashes
        };
        let actions = Quota::per_second(at_least_one(settings.actions_per_user_per_second))
            .allow_burst(at_least_one(settings.actions_burst_per_user));
        Self {
            login_ip: RateLimiter::keyed(Quota::per_minute(at_least_one(settings.login_per_ip_per_minute))),
            login_account: RateLimiter::keyed(Quota::per_minute(at_least_one(
                settings.login_per_account_per_minute,
            ))),
            register_ip: RateLimiter::keyed(Quota::per_hour(at_least_one(
                settings.registrations_per_ip_per_hour,
            ))),
            actions: RateLimiter::keyed(actions),
            failures: Mutex::default(),
            hashing: Semaphore::new(slots),
            clock: DefaultClock::default(),
            settings,
        }
    }

    /// A login attempt from `ip` for `account` (the normalised e-mail, or the raw string). It
    /// counts as a failure of the account until [`Limits::login_succeeded`]: parallel guesses
    /// cannot all slip in before the first of them has failed.
    pub fn login(&self, ip: IpAddr, account: &str) -> Result<(), Refused> {
        self.take(&self.login_ip, &ip)?;
        self.take(&self.login_account, &account.to_owned())?;
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = failures.get(account) {
            self.backoff(entry)?;
        }
        let entry = failures.entry(account.to_owned()).or_insert(Failures {
            count: 0,
            last: Instant::now(),
        });
        entry.count = entry.count.saturating_add(1);
        entry.last = Instant::now();
        Ok(())
    }

    /// A successful login: the account's backoff is over.
    pub fn login_succeeded(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(account);
    }

    /// A registration from `ip`.
    pub fn register(&self, ip: IpAddr) -> Result<(), Refused> {
        self.take(&self.register_ip, &ip)
    }

    /// `count` actions of `user`.
    pub fn actions(&self, user: Uuid, count: usize) -> Result<(), Refused> {
        let n = at_least_one(u32::try_from(count).unwrap_or(u32::MAX));
        match self.actions.check_key_n(&user, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refused::TooMany(not_until.wait_time_from(self.clock.now()))),
            // More than the burst at once can never pass: retrying as it is is pointless, but a
            // smaller batch after a second may.
            Err(_) => Err(Refused::TooMany(Duration::from_secs(1))),
        }
    }

    /// Runs `hash` (a password hash or verification) in a hashing slot, waiting up to
    /// `hash_wait_ms` for one.
    pub async fn hashing<T>(&self, hash: impl std::future::Future<Output = T>) -> Result<T, Refused> {
        let wait = Duration::from_millis(self.settings.hash_wait_ms);
        let permit = tokio::time::timeout(wait, self.hashing.acquire())
            .await
            .map_err(|_| Refused::Busy)?
            .map_err(|_| Refused::Busy)?;
        let result = hash.await;
        drop(permit);
        Ok(result)
    }

    /// Forgets idle counters (call now and then: the maps grow with distinct keys).
    pub fn prune(&self) {
        self.login_ip.retain_recent();
        self.login_account.retain_recent();
        self.register_ip.retain_recent();
        self.actions.retain_recent();
        let horizon = Duration::from_secs(self.settings.max_backoff_seconds.max(3600));
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.retain(|_, f| f.last.elapsed() < horizon);
    }

    fn take<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), Refused> {
        limiter
            .check_key(key)
            .map_err(|not_until| Refused::TooMany(not_until.wait_time_from(self.clock.now())))
    }

    /// Inside an account's backoff: from the `failures_before_backoff`-th consecutive failure
    /// on, 1 s after the last one, doubling with each further failure, at most
    /// `max_backoff_seconds`.
    fn backoff(&self, entry: &Failures) -> Result<(), Refused> {
        let Some(over) = entry.count.checked_sub(self.settings.failures_before_backoff) else {
            return Ok(());
        };
        let wait = Duration::from_secs(
            2u64.saturating_pow(over.min(32))
                .min(self.settings.max_backoff_seconds.max(1)),
        );
        let elapsed = entry.last.elapsed();
        if elapsed < wait {
            Err(Refused::TooMany(wait - elapsed))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(LimitSettings {
            login_per_ip_per_minute: 3,
            login_per_account_per_minute: 100,
            failures_before_backoff: 2,
            actions_per_user_per_second: 10,
            actions_burst_per_user: 20,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn logins_per_address_are_capped_with_a_retry_time() {
        let limits = limits();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..3 {
            assert!(limits.login(ip, &format!("a{i}@example.com")).is_ok());
        }
        match limits.login(ip, "b@example.com") {
            Err(Refused::TooMany(after)) => {
                assert!(after > Duration::ZERO && after <= Duration::from_secs(20))
            }
            other => panic!("{other:?}"),
        }
        assert!(limits
            .login("192.0.2.2".parse().unwrap(), "b@example.com")
            .is_ok());
    }

    #[test]
    fn failures_grow_a_backoff_that_a_success_ends() {
        let limits = limits();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        // Each attempt counts as a failure until it succeeds; two are free.
        assert!(limits.login(ip, "v@example.com").is_ok());
        assert!(limits.login(ip, "v@example.com").is_ok());
        // Then each waits 1 s after the last, then 2 s, 4 s...
        assert!(
            matches!(limits.login(ip, "v@example.com"), Err(Refused::TooMany(d)) if d <= Duration::from_secs(1))
        );
        let elsewhere: IpAddr = "192.0.2.9".parse().unwrap();
        assert!(
            limits.login(elsewhere, "other@example.com").is_ok(),
            "other accounts are not affected"
        );
        limits.login_succeeded("v@example.com");
        assert!(limits.login(elsewhere, "v@example.com").is_ok());
    }

    #[test]
    fn actions_count_one_by_one_within_a_burst() {
        let limits = limits();
        let user = Uuid::now_v7();
        assert!(limits.actions(user, 20).is_ok());
        assert!(matches!(limits.actions(user, 1), Err(Refused::TooMany(_))));
        assert!(
            matches!(limits.actions(Uuid::now_v7(), 21), Err(Refused::TooMany(_))),
            "over the burst"
        );
        assert!(limits.actions(Uuid::now_v7(), 1).is_ok());
    }

    #[tokio::test]
    async fn hashing_slots_are_bounded() {
        let limits = Limits::new(LimitSettings {
            concurrent_hashes: 1,
            hash_wait_ms: 50,
            ..LimitSettings::default()
        });
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let busy = limits.hashing(async {
            let _ = wait.await;
        });
        let second = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let refused = limits.hashing(async {}).await;
            let _ = release.send(());
            refused
        };
        let (first, second) = tokio::join!(busy, second);
        assert!(first.is_ok());
        assert_eq!(second, Err(Refused::Busy));
    }
}
