//! Login throttling. Three limits, all answered 429 with `Retry-After` (a 4xx, so no caller's
//! circuit breaker counts it):
//! - per username: `LOGIN_MAX_FAILURES` attempts that have not succeeded within
//!   `LOGIN_FAILURE_WINDOW_SECS` use the name's allowance, and further attempts are refused until
//!   the window ends (guessing stops, concurrent guesses included; the price: whoever knows a
//!   name can keep its owner waiting, window after window, for as long as they keep guessing);
//! - per client address: `LOGIN_MAX_FAILURES_PER_ADDRESS` attempts that have not succeeded in the
//!   same window, whatever the names (one client spraying guesses over many names stops too);
//! - password checks at once: argon2 is CPU-heavy by design, so at most one per core runs, and an
//!   attempt that cannot start one within a short wait is refused at once. A flood of logins
//!   then costs quick refusals, not answers so slow that callers time out and open their
//!   breakers for everyone.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an attempt waits for a password check to start before it is refused.
const HASH_QUEUE_WAIT: Duration = Duration::from_millis(250);

/// The login limits of one auth-service process.
#[derive(Debug)]
pub(crate) struct Throttle {
    max_failures: u32,
    max_per_address: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// The map is swept of expired windows when it reaches this size.
    sweep_at: AtomicUsize,
    hashing: Arc<Semaphore>,
}

/// The smallest size at which the map is swept.
const MIN_SWEEP: usize = 1024;

/// A name as the map keys it: at most 64 characters (real names are shorter; an attacker's
/// megabyte of "name" is not stored).
fn name_key(username: &str) -> String {
    let name = username
        .char_indices()
        .nth(64)
        .map_or(username, |(end, _)| &username[..end]);
    format!("name:{name}")
}

fn address_key(address: IpAddr) -> String {
    format!("address:{}", address.to_canonical())
}

/// Which allowance an attempt found used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The username's.
    Name,
    /// The client address's.
    Address,
}

impl Limit {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Name => "username",
            Self::Address => "address",
        }
    }
}

impl Throttle {
    pub(crate) fn new(max_failures: u32, max_per_address: u32, window: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_failures: max_failures.max(1),
            max_per_address: max_per_address.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
            hashing: Arc::new(Semaphore::new(cores)),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an attempt for `username` from `address` before its password is checked, or
    /// `Err` with the limit and how long until it lifts when the address or the name has used up
    /// its allowance in the current window. Counting before the check means concurrent guesses
    /// cannot all pass on the same count.
    pub(crate) fn attempt(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), (Limit, Duration)> {
        if let Some(address) = address {
            self.count(&address_key(address), self.max_per_address, now)
                .map_err(|wait| (Limit::Address, wait))?;
        }
        self.count(&name_key(username), self.max_failures, now)
            .map_err(|wait| (Limit::Name, wait))
    }

    fn count(&self, key: &str, limit: u32, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures();
        if failures.len() >= self.sweep_at.load(Ordering::Relaxed) {
            failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
            // Sweep again only once the map has doubled, so a flood of names costs O(1) each.
            let next = (failures.len() * 2).max(MIN_SWEEP);
            self.sweep_at.store(next, Ordering::Relaxed);
        }
        let (count, since) = failures.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(*since) >= self.window {
            (*count, *since) = (0, now);
        }
        if *count >= limit {
            return Err(self.window - now.duration_since(*since));
        }
        *count += 1;
        Ok(())
    }

    /// A successful login clears the name's count and takes its attempt off the address's (only
    /// that one: a client with one good account cannot wipe its guesses at others).
    pub(crate) fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        let mut failures = self.failures();
        failures.remove(&name_key(username));
        if let Some((count, _)) = address.and_then(|a| failures.get_mut(&address_key(a))) {
            *count = count.saturating_sub(1);
        }
    }

    /// A permit to run one password check, or `None` when every core has been busy for the
    /// whole short wait.
    pub(crate) async fn hashing_permit(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(HASH_QUEUE_WAIT, self.hashing.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_refused_after_its_attempts_until_the_window_ends() {
        let throttle = Throttle::new(3, 100, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.attempt("alice", None, start), Ok(()));
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(
            throttle.attempt("alice", None, later),
            Err((Limit::Name, Duration::from_secs(40)))
        );
        assert_eq!(
            throttle.attempt("bob", None, later),
            Ok(()),
            "other names are not affected"
        );
        assert_eq!(
            throttle.attempt("alice", None, start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn a_success_clears_the_count() {
        let throttle = Throttle::new(2, 100, Duration::from_secs(60));
        let now = Instant::now();
        throttle.attempt("alice", None, now).unwrap();
        throttle.succeeded("alice", None);
        throttle.attempt("alice", None, now).unwrap();
        assert_eq!(throttle.attempt("alice", None, now), Ok(()));
        assert!(throttle.attempt("alice", None, now).is_err());
    }

    #[test]
    fn a_flood_of_names_keeps_the_map_bounded_to_live_windows() {
        let throttle = Throttle::new(5, 100, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..5_000 {
            throttle.attempt(&format!("name-{i}"), None, start).unwrap();
        }
        let later = start + Duration::from_secs(2);
        for i in 0..5_000 {
            throttle
                .attempt(&format!("other-{i}"), None, later)
                .unwrap();
        }
        assert!(
            throttle.failures().len() <= 5_000 + MIN_SWEEP,
            "{}",
            throttle.failures().len()
        );
        let long = "x".repeat(100_000);
        throttle.attempt(&long, None, later).unwrap();
        assert!(
            throttle
                .failures()
                .keys()
                .all(|k| k.chars().count() <= 64 + "name:".len())
        );
    }

    #[test]
    fn one_address_guessing_over_many_names_is_refused_and_others_are_not() {
        let throttle = Throttle::new(5, 3, Duration::from_secs(60));
        let now = Instant::now();
        let (guesser, other): (IpAddr, IpAddr) =
            ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
        for name in ["alice", "bob", "carol"] {
            throttle.attempt(name, Some(guesser), now).unwrap();
        }
        assert_eq!(
            throttle.attempt("dave", Some(guesser), now),
            Err((Limit::Address, Duration::from_secs(60)))
        );
        assert_eq!(throttle.attempt("dave", Some(other), now), Ok(()));
        // An IPv4 caller on a dual-stack socket is the same address.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert!(throttle.attempt("erin", Some(mapped), now).is_err());
        // A success takes back its own attempt, not the guesses before it.
        let throttle = Throttle::new(5, 2, Duration::from_secs(60));
        throttle.attempt("alice", Some(guesser), now).unwrap();
        throttle.attempt("bob", Some(guesser), now).unwrap();
        throttle.succeeded("bob", Some(guesser));
        throttle.attempt("carol", Some(guesser), now).unwrap();
        assert!(throttle.attempt("dave", Some(guesser), now).is_err());
    }
}
