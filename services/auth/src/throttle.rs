//! Login throttling. Two limits, both answered 429 with `Retry-After` (a 4xx, so no caller's
//! circuit breaker counts it):
//! - per username: after `LOGIN_MAX_FAILURES` wrong passwords within `LOGIN_FAILURE_WINDOW_SECS`,
//!   further attempts for that name are refused until the window ends (guessing stops; the real
//!   user waits at most one window);
//! - password checks at once: argon2 is CPU-heavy by design, so at most one per core runs, and an
//!   attempt that cannot start one within a short wait is refused at once. A flood of logins
//!   then costs quick refusals, not answers so slow that callers time out and open their
//!   breakers for everyone.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
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
    hashing: Arc<Semaphore>,
}

impl Throttle {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
            hashing: Arc::new(Semaphore::new(cores)),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(retry_after)` when `username` has used up its failures in the current window.
    pub(crate) fn check(&self, username: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures();
        match failures.get(username) {
            Some((_, since)) if now.duration_since(*since) >= self.window => {
                failures.remove(username);
                Ok(())
            }
            Some((count, since)) if *count >= self.max_failures => {
                Err(self.window - now.duration_since(*since))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password for `username`.
    pub(crate) fn failed(&self, username: &str, now: Instant) {
        let mut failures = self.failures();
        // Bound the map: forget expired windows once it grows.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        failures
            .entry(username.to_owned())
            .and_modify(|(count, _)| *count += 1)
            .or_insert((1, now));
    }

    /// A successful login clears the name's failures.
    pub(crate) fn succeeded(&self, username: &str) {
        self.failures().remove(username);
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
    fn a_name_is_refused_after_its_failures_until_the_window_ends() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.check("alice", start), Ok(()));
            throttle.failed("alice", start);
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(throttle.check("alice", later), Err(Duration::from_secs(40)));
        assert_eq!(
            throttle.check("bob", later),
            Ok(()),
            "other names are not affected"
        );
        assert_eq!(
            throttle.check("alice", start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn a_success_clears_the_count() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let now = Instant::now();
        throttle.failed("alice", now);
        throttle.succeeded("alice");
        throttle.failed("alice", now);
        assert_eq!(throttle.check("alice", now), Ok(()));
    }
}
