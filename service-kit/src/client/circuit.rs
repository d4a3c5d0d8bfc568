//! A downstream's circuit breaker wired into its calls: which calls it lets through, what it
//! learns from each outcome, and what a trace shows of it — `circuit_state` on the CLIENT span,
//! `circuit_failure` and `circuit_state_change` events, and a `circuit_breaker.call` span only
//! for a refused call or a half-open probe (the moments worth a span).

use super::{ClientError, Downstream, TracedResponse, counts_as_outage};
use crate::breaker::{Admission, CircuitBreaker, CircuitState, Transition};
use opentelemetry::KeyValue;
use reqwest::RequestBuilder;
use std::time::Instant;
use tracing::{Instrument, Span, field::Empty};

impl Downstream {
    /// Sends the call through `breaker`.
    pub(super) async fn send_through(
        &self,
        breaker: &CircuitBreaker,
        template: &'static str,
        request: &(dyn Fn() -> RequestBuilder + Sync),
        attributes: &[KeyValue],
    ) -> Result<TracedResponse, ClientError> {
        // The state each outcome is labelled with is the one the decision was taken in: only a
        // closed circuit lets an ordinary call through, only a half-open one a probe.
        match breaker.admit(Instant::now()) {
            Admission::Refused { state } => Err(self.refuse(state)),
            Admission::Allowed {
                probe: false,
                transition,
            } => {
                let (result, span) = self
                    .attempts(template, request, attributes, Some(CircuitState::Closed))
                    .await;
                if never_sent(&result) {
                    // Nothing reached the callee: its breaker has nothing to learn.
                    return result;
                }
                span.in_scope(|| {
                    record_transition(transition);
                    let success = succeeded(&result);
                    if !success {
                        tracing::warn!(service_name = self.service(), "circuit_failure");
                    }
                    record_transition(breaker.record(success, Instant::now()));
                });
                result
            }
            Admission::Allowed {
                probe: true,
                transition,
            } => {
                self.probe(breaker, transition, template, request, attributes)
                    .await
            }
        }
    }

    /// A call refused without sending it: a `circuit_breaker.call` span that says so.
    fn refuse(&self, state: CircuitState) -> ClientError {
        let span = breaker_span(self.service(), state);
        span.in_scope(|| tracing::warn!(service_name = self.service(), "circuit_open"));
        let error = ClientError::CircuitOpen {
            service: self.service(),
        };
        shared_tracing::spans::mark_failed(&span, error.kind());
        error
    }

    /// The one call a half-open circuit lets through, in a `circuit_breaker.call` span that shows
    /// the attempt and the state it leads to.
    async fn probe(
        &self,
        breaker: &CircuitBreaker,
        transition: Option<Transition>,
        template: &'static str,
        request: &(dyn Fn() -> RequestBuilder + Sync),
        attributes: &[KeyValue],
    ) -> Result<TracedResponse, ClientError> {
        let span = breaker_span(self.service(), CircuitState::HalfOpen);
        let call = async {
            record_transition(transition);
            tracing::info!(service_name = self.service(), "circuit_half_open_attempt");
            let guard = ProbeGuard {
                breaker,
                armed: true,
            };
            let (result, _) = self
                .attempts(template, request, attributes, Some(CircuitState::HalfOpen))
                .await;
            if never_sent(&result) {
                // Not a probe after all: the guard hands it back for the next call.
                return result;
            }
            guard.disarm();
            let success = succeeded(&result);
            if !success {
                tracing::warn!(service_name = self.service(), "circuit_failure");
            }
            record_transition(breaker.record(success, Instant::now()));
            result
        };
        let result = call.instrument(span.clone()).await;
        if let Err(error) = &result {
            shared_tracing::spans::mark_failed(&span, error.kind());
        }
        result
    }
}

/// Whether the request could not even be built (a malformed URL or header): a mistake here, not
/// an outcome of the callee's.
pub(super) fn never_sent(result: &Result<TracedResponse, ClientError>) -> bool {
    matches!(result, Err(ClientError::Unavailable { source, .. }) if source.is_builder())
}

/// Whether a call's outcome shows the callee up (see [`counts_as_outage`]).
fn succeeded(result: &Result<TracedResponse, ClientError>) -> bool {
    result
        .as_ref()
        .is_ok_and(|r| !counts_as_outage(r.status(), r.headers()))
}

/// The breaker's own span, for a refused call or a probe.
fn breaker_span(service: &'static str, state: CircuitState) -> Span {
    tracing::info_span!(
        "circuit_breaker.call",
        service_name = service,
        circuit_state = state.as_str(),
        otel.status_code = Empty,
        error.type = Empty,
    )
}

/// Records a breaker state change as a `circuit_state_change` event on the current span.
fn record_transition(transition: Option<Transition>) {
    if let Some((from, to)) = transition {
        if to == CircuitState::Open {
            tracing::warn!(
                from = from.as_str(),
                to = to.as_str(),
                "circuit_state_change"
            );
        } else {
            tracing::info!(
                from = from.as_str(),
                to = to.as_str(),
                "circuit_state_change"
            );
        }
    }
}

/// Hands a half-open probe back if its call is dropped before it finishes (the caller gave up),
/// so the circuit is not left waiting for an outcome that never comes.
struct ProbeGuard<'a> {
    breaker: &'a CircuitBreaker,
    armed: bool,
}

impl ProbeGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.abandon_probe();
        }
    }
}
