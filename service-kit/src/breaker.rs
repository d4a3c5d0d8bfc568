//! A circuit breaker per downstream service: closed → open after `threshold` consecutive failures,
//! open for `open_for` (calls refused at once), then half-open: one probe goes through, and its
//! outcome closes the circuit or opens it again.
//!
//! Hand-written (about a hundred lines) because the tracing is the point: every transition is a
//! span event, and the maintained breaker crates have no hooks for that.

use std::{
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Breaker settings, from `CB_FAILURE_THRESHOLD` and `CB_OPEN_MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a probe is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

/// The breaker settings as command-line flags / environment variables, for a service's `Config`
/// (`#[command(flatten)]`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BreakerArgs {
    /// Consecutive outages of a downstream — no answer in time, no connection, or a 503 of its
    /// own (not one that relays a failure further down) — that open its circuit.
    #[arg(long, env = "CB_FAILURE_THRESHOLD", default_value_t = 5)]
    pub cb_failure_threshold: u32,
    /// How long an open circuit refuses calls before one probe is let through, in milliseconds.
    #[arg(long = "cb-open-ms", env = "CB_OPEN_MS", default_value = "10000", value_parser = crate::config::millis)]
    pub cb_open: Duration,
}

impl From<BreakerArgs> for BreakerConfig {
    fn from(args: BreakerArgs) -> Self {
        Self {
            failure_threshold: args.cb_failure_threshold.max(1),
            open_for: args.cb_open,
        }
    }
}

/// The state a circuit reports (`circuit_state` on spans, `/healthz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// One probe call is deciding.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A state change, for the `circuit_state_change` event.
pub type Transition = (CircuitState, CircuitState);

/// Whether a call may go out.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Yes; `probe` when it is the half-open trial call.
    Allowed {
        /// The single call that decides a half-open circuit.
        probe: bool,
        /// The state change admitting it caused (open → half-open).
        transition: Option<Transition>,
    },
    /// No: the circuit is open, or half-open with its probe under way (`state` says which,
    /// decided under the same lock as the refusal).
    Refused {
        /// `Open` or `HalfOpen`.
        state: CircuitState,
    },
}

/// One circuit.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed circuit.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value: a panic elsewhere cannot leave it half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        self.state_at(Instant::now())
    }

    /// The state at `now`: an open circuit whose open period has ended is half-open (the next
    /// call goes through as the probe), even before a call has come to move it there.
    pub fn state_at(&self, now: Instant) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Decides whether a call may go out now.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Allowed {
                probe: false,
                transition: None,
            },
            State::Open { until } if now < until => Admission::Refused {
                state: CircuitState::Open,
            },
            State::Open { .. } => {
                *state = State::HalfOpen { probing: true };
                Admission::Allowed {
                    probe: true,
                    transition: Some((CircuitState::Open, CircuitState::HalfOpen)),
                }
            }
            State::HalfOpen { probing: true } => Admission::Refused {
                state: CircuitState::HalfOpen,
            },
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Admission::Allowed {
                    probe: true,
                    transition: None,
                }
            }
        }
    }

    /// Records the outcome of an admitted call; returns the state change it caused.
    pub fn record(&self, success: bool, now: Instant) -> Option<Transition> {
        let mut state = self.lock();
        let (next, transition) = match (*state, success) {
            (State::Closed { .. }, true) => (State::Closed { failures: 0 }, None),
            (State::Closed { failures }, false)
                if failures + 1 >= self.config.failure_threshold =>
            {
                (
                    State::Open {
                        until: now + self.config.open_for,
                    },
                    Some((CircuitState::Closed, CircuitState::Open)),
                )
            }
            (State::Closed { failures }, false) => (
                State::Closed {
                    failures: failures + 1,
                },
                None,
            ),
            (State::HalfOpen { .. }, true) => (
                State::Closed { failures: 0 },
                Some((CircuitState::HalfOpen, CircuitState::Closed)),
            ),
            (State::HalfOpen { .. }, false) => (
                State::Open {
                    until: now + self.config.open_for,
                },
                Some((CircuitState::HalfOpen, CircuitState::Open)),
            ),
            // A call admitted before the circuit opened finished late: the circuit stays open.
            (open @ State::Open { .. }, _) => (open, None),
        };
        *state = next;
        transition
    }

    /// A probe that ended without an outcome (its caller went away): let the next call probe.
    pub fn abandon_probe(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { probing: true } = *state {
            *state = State::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    const OPEN_FOR: Duration = Duration::from_millis(100);

    fn breaker(threshold: u32) -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: threshold,
            open_for: OPEN_FOR,
        })
    }

    fn allowed(admission: Admission) -> bool {
        matches!(admission, Admission::Allowed { .. })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let cb = breaker(3);
        let now = Instant::now();
        assert_eq!(cb.record(false, now), None);
        assert_eq!(cb.record(true, now), None, "a success resets the count");
        assert_eq!(cb.record(false, now), None);
        assert_eq!(cb.record(false, now), None);
        assert_eq!(cb.state(), CircuitState::Closed);
        assert_eq!(
            cb.record(false, now),
            Some((CircuitState::Closed, CircuitState::Open))
        );
        assert_eq!(cb.state(), CircuitState::Open);
        assert_eq!(
            cb.admit(now),
            Admission::Refused {
                state: CircuitState::Open
            }
        );
        assert_eq!(
            cb.admit(now + OPEN_FOR / 2),
            Admission::Refused {
                state: CircuitState::Open
            }
        );
    }

    #[test]
    fn an_open_circuit_reports_half_open_once_its_open_period_ends() {
        let cb = breaker(1);
        let start = Instant::now();
        cb.record(false, start);
        assert_eq!(cb.state_at(start + OPEN_FOR / 2), CircuitState::Open);
        // No call has come yet; /healthz must not say "open" for a circuit that would let one
        // through.
        assert_eq!(cb.state_at(start + OPEN_FOR), CircuitState::HalfOpen);
    }

    #[test]
    fn after_the_open_period_one_probe_decides() {
        let cb = breaker(1);
        let start = Instant::now();
        cb.record(false, start);
        let later = start + OPEN_FOR;
        assert_eq!(
            cb.admit(later),
            Admission::Allowed {
                probe: true,
                transition: Some((CircuitState::Open, CircuitState::HalfOpen))
            }
        );
        assert_eq!(
            cb.admit(later),
            Admission::Refused {
                state: CircuitState::HalfOpen
            },
            "one probe at a time"
        );
        assert_eq!(
            cb.record(true, later),
            Some((CircuitState::HalfOpen, CircuitState::Closed))
        );
        assert!(allowed(cb.admit(later)));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again() {
        let cb = breaker(1);
        let start = Instant::now();
        cb.record(false, start);
        assert!(allowed(cb.admit(start + OPEN_FOR)));
        assert_eq!(
            cb.record(false, start + OPEN_FOR),
            Some((CircuitState::HalfOpen, CircuitState::Open))
        );
        assert!(matches!(
            cb.admit(start + OPEN_FOR),
            Admission::Refused { .. }
        ));
        assert!(allowed(cb.admit(start + OPEN_FOR * 2)));
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let cb = breaker(1);
        let start = Instant::now();
        cb.record(false, start);
        assert!(allowed(cb.admit(start + OPEN_FOR)));
        cb.abandon_probe();
        assert_eq!(
            cb.admit(start + OPEN_FOR),
            Admission::Allowed {
                probe: true,
                transition: None
            }
        );
    }

    #[test]
    fn concurrent_callers_in_half_open_let_exactly_one_probe_through() {
        let cb = Arc::new(breaker(1));
        let start = Instant::now();
        cb.record(false, start);
        let callers = 16;
        let barrier = Arc::new(Barrier::new(callers));
        let handles: Vec<_> = (0..callers)
            .map(|_| {
                let (cb, barrier) = (cb.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    cb.admit(start + OPEN_FOR)
                })
            })
            .collect();
        let admissions: Vec<Admission> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let probes = admissions
            .iter()
            .filter(|a| matches!(a, Admission::Allowed { probe: true, .. }))
            .count();
        assert_eq!(probes, 1, "{admissions:?}");
        assert_eq!(
            admissions
                .iter()
                .filter(|a| matches!(a, Admission::Refused { .. }))
                .count(),
            callers - 1
        );
    }
}
