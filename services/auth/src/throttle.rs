//! Login throttling. Two limits, both answered 429 with `Retry-After` (a 4xx, so no caller's
//! circuit breaker counts it):
//! - per username: `LOGIN_MAX_FAILURES` attempts that have not succeeded within
//!   `LOGIN_FAILURE_WINDOW_SECS` use the name's allowance, and further attempts are refused until
//!   the window ends (guessing stops, concurrent guesses included; the price: whoever knows a
//!   name can keep its owner waiting, window after window, for as long as they keep guessing);
//! - password checks at once: argon2 is CPU-heavy by design, so at most one per core runs, and an
//!   attempt that cannot start one within a short wait is refused at once. A flood of logins
//!   then costs quick refusals, not answers so slow that callers time out and open their
//!   breakers for everyone.

use std::{
    collections::HashMap,
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
fn key(username: &str) -> &str {
    username
        .char_indices()
        .nth(64)
        .map_or(username, |(end, _)| &username[..end])
}

impl Throttle {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_failures: max_failures.max(1),
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

    /// Counts an attempt for `username` before its password is checked, or `Err(retry_after)`
    /// when the name has used up its allowance in the current window. Counting before the
    /// check means concurrent guesses cannot all pass on the same count.
    pub(crate) fn attempt(&self, username: &str, now: Instant) -> Result<(), Duration> {
        let key = key(username);
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
        if *count >= self.max_failures {
            return Err(self.window - now.duration_since(*since));
        }
        *count += 1;
        Ok(())
    }

    /// A successful login clears the name's count.
    pub(crate) fn succeeded(&self, username: &str) {
        self.failures().remove(key(username));
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
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.attempt("alice", start), Ok(()));
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(
            throttle.attempt("alice", later),
            Err(Duration::from_secs(40))
        );
        assert_eq!(
            throttle.attempt("bob", later),
            Ok(()),
            "other names are not affected"
        );
        assert_eq!(
            throttle.attempt("alice", start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn a_success_clears_the_count() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        throttle.attempt("alice", now).unwrap();
        throttle.succeeded("alice");
        throttle.attempt("alice", now).unwrap();
        assert_eq!(throttle.attempt("alice", now), Ok(()));
        assert!(throttle.attempt("alice", now).is_err());
    }

    #[test]
    fn a_flood_of_names_keeps_the_map_bounded_to_live_windows() {
        let throttle = Throttle::new(5, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..5_000 {
            throttle.attempt(&format!("name-{i}"), start).unwrap();
        }
        let later = start + Duration::from_secs(2);
        for i in 0..5_000 {
            throttle.attempt(&format!("other-{i}"), later).unwrap();
        }
        assert!(
            throttle.failures().len() <= 5_000 + MIN_SWEEP,
            "{}",
            throttle.failures().len()
        );
        let long = "x".repeat(100_000);
        throttle.attempt(&long, later).unwrap();
        assert!(throttle.failures().keys().all(|k| k.chars().count() <= 64));
    }
}
