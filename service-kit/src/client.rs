//! A downstream service as every service calls it: base URL, timeout, pooled connections, an
//! optional circuit breaker, and the errors a call ends with — each request a CLIENT span
//! ([`shared_tracing::client::send`]).

use crate::breaker::{Admission, BreakerConfig, CircuitBreaker, CircuitState, Transition};
use http::{HeaderName, HeaderValue};
use opentelemetry::KeyValue;
use serde::de::DeserializeOwned;
use shared_tracing::client;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A downstream service: its name (for spans and errors), base URL, a client with a timeout, and
/// optionally a circuit breaker.
#[derive(Debug, Clone)]
pub struct Downstream {
    service: &'static str,
    base_url: String,
    http: reqwest::Client,
    timeout: Duration,
    breaker: Option<Arc<CircuitBreaker>>,
}

/// Why a downstream call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer within the client's timeout.
    #[error("{service} did not answer in time")]
    Timeout {
        /// The downstream service.
        service: &'static str,
    },
    /// Connection refused or reset, DNS failure, broken request. The message names only the
    /// service (it may reach a caller); the cause is on the span's `exception` event.
    #[error("{service} is unreachable")]
    Unavailable {
        /// The downstream service.
        service: &'static str,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The circuit breaker refused the call without sending it.
    #[error("{service} unavailable (circuit open)")]
    CircuitOpen {
        /// The downstream service.
        service: &'static str,
    },
    /// The service answered with a status its contract does not allow.
    #[error("{service} answered {status}")]
    UnexpectedStatus {
        /// The downstream service.
        service: &'static str,
        /// What it answered.
        status: http::StatusCode,
    },
    /// The body was not what the contract promises.
    #[error("{service} sent an invalid response")]
    InvalidResponse {
        /// The downstream service.
        service: &'static str,
        /// The decoding error.
        source: reqwest::Error,
    },
}

impl ClientError {
    fn from_reqwest(service: &'static str, source: reqwest::Error) -> Self {
        if source.is_timeout() {
            Self::Timeout { service }
        } else {
            Self::Unavailable { service, source }
        }
    }

    /// What a service answers its own caller when this failure stops it: 504 for a timeout, 503
    /// for an open circuit, 502 for an unreachable downstream or an invalid answer.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Timeout { .. } => http::StatusCode::GATEWAY_TIMEOUT,
            Self::CircuitOpen { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable { .. }
            | Self::UnexpectedStatus { .. }
            | Self::InvalidResponse { .. } => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// The answer a service gives its own caller when this failure stops it: [`Self::status`],
    /// the message, and a `Proxy-Status` header (RFC 9209) naming `via` (the service answering)
    /// and the downstream it could not get a usable answer from. The header is what tells the
    /// caller's circuit breaker that `via` itself is up: see [`counts_as_outage`].
    pub fn answer(&self, via: &'static str) -> crate::ApiError {
        crate::ApiError::new(self.status(), self.to_string())
            .with_header(PROXY_STATUS, self.proxy_status(via))
    }

    /// `via; next-hop=<service>` and the RFC 9209 error type (or the status received).
    fn proxy_status(&self, via: &'static str) -> HeaderValue {
        let detail = match self {
            Self::Timeout { .. } => "error=http_response_timeout".to_owned(),
            Self::Unavailable { source, .. } if source.is_connect() => {
                "error=connection_refused".to_owned()
            }
            Self::Unavailable { .. } => "error=connection_terminated".to_owned(),
            Self::CircuitOpen { .. } => "error=destination_unavailable".to_owned(),
            Self::UnexpectedStatus { status, .. } => format!("received-status={}", status.as_u16()),
            Self::InvalidResponse { .. } => "error=http_protocol_error".to_owned(),
        };
        let service = match self {
            Self::Timeout { service }
            | Self::Unavailable { service, .. }
            | Self::CircuitOpen { service }
            | Self::UnexpectedStatus { service, .. }
            | Self::InvalidResponse { service, .. } => service,
        };
        // Service names are tokens (`payment-service`): always a valid header value.
        HeaderValue::from_str(&format!("{via}; next-hop={service}; {detail}"))
            .expect("service names are header-safe")
    }

    /// A low-cardinality name for `error.type` and `exception.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Unavailable { source, .. } => client::transport_error_type(source),
            Self::CircuitOpen { .. } => "circuit_open",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::InvalidResponse { .. } => "invalid_response",
        }
    }
}

/// The RFC 9209 header a service adds to an answer it gives because a downstream failed.
pub const PROXY_STATUS: HeaderName = HeaderName::from_static("proxy-status");

/// Whether an answer is the callee's own outage, to count against its circuit breaker: a 503
/// without `Proxy-Status`. Anything else it answers shows it up and serving — a 500 is one
/// request's failure, and a 502/503/504 with `Proxy-Status` relays a failure further down, which
/// must not open the breaker for everyone's calls to this healthy service. Timeouts and transport
/// errors, which get no answer, always count.
pub fn counts_as_outage(status: http::StatusCode, headers: &http::HeaderMap) -> bool {
    status == http::StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(PROXY_STATUS)
}

/// How long an idle pooled connection may be reused: below every service's header-read timeout.
const IDLE_CONNECTION_REUSE: Duration = Duration::from_secs(2);

/// The pauses before resending a call that got no answer because of the connection (see
/// [`resendable`]): 350 ms in all, about what a service takes to restart. Each attempt is its own
/// CLIENT span with `http.request.resend_count` (the HTTP semantic conventions' rule), and the
/// breaker learns only the call's final outcome.
const RESEND_DELAYS: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
];

impl Downstream {
    /// A client for `service` at `base_url` whose requests give up after `timeout`.
    pub fn new(service: &'static str, base_url: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Services close a connection that sends no request within their header-read timeout
            // (HTTP_HEADER_READ_TIMEOUT_MS, 5 s by default): reuse only connections idle for less,
            // so a request is never written into one the callee is closing.
            .pool_idle_timeout(IDLE_CONNECTION_REUSE)
            .build()
            .expect("a reqwest client with a timeout and a pool setting always builds");
        Self {
            service,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            http,
            timeout,
            breaker: None,
        }
    }

    /// Sends every call through a circuit breaker: its state rides on the call's CLIENT span, and
    /// only a refused call or a half-open probe gets a `circuit_breaker.call` span of its own.
    pub fn with_circuit_breaker(mut self, config: BreakerConfig) -> Self {
        self.breaker = Some(Arc::new(CircuitBreaker::new(config)));
        self
    }

    /// The breaker's state, if this downstream has one.
    pub fn circuit_state(&self) -> Option<CircuitState> {
        self.breaker.as_ref().map(|breaker| breaker.state())
    }

    /// The downstream's service name.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Starts a request to `path` (e.g. `/api/payments`) on this downstream.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
    }

    /// [`Self::send_with`] without business attributes.
    pub async fn send(
        &self,
        template: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<TracedResponse, ClientError> {
        self.send_with(template, request, Vec::new()).await
    }

    /// Sends `request` as one CLIENT span named `{METHOD} {template}`, where `template` is the
    /// low-cardinality path (`/api/reservations/{id}`), carrying `attributes` (the call's business
    /// context: `order_id`, `amount_cents`). 4xx and 5xx answers mark the span as an error (the
    /// semantic conventions' rule for client spans) but are returned as responses; a timeout adds
    /// a `timeout` event, a transport failure an `exception` event, and both are returned as
    /// errors.
    ///
    /// With a breaker, the CLIENT span also carries `circuit_state` (the state the call was let
    /// through in), a `circuit_failure` event when the outcome counts against the breaker and a
    /// `circuit_state_change` event when it moves the breaker. A call refused while the circuit is
    /// open, and a half-open probe, get a `circuit_breaker.call` span of their own (the probe's
    /// CLIENT span inside it): those are the moments worth a span; every other call would pay for
    /// one that says nothing the CLIENT span cannot.
    pub async fn send_with(
        &self,
        template: &'static str,
        request: reqwest::RequestBuilder,
        attributes: Vec<KeyValue>,
    ) -> Result<TracedResponse, ClientError> {
        let Some(breaker) = &self.breaker else {
            return self
                .send_traced(template, request, attributes, None)
                .await
                .0;
        };
        // The state each outcome is labelled with is the one the decision was taken in: only a
        // closed circuit lets an ordinary call through, only a half-open one a probe.
        match breaker.admit(Instant::now()) {
            Admission::Refused { state } => Err(self.refuse(state)),
            Admission::Allowed {
                probe: false,
                transition,
            } => {
                let (result, span) = self
                    .send_traced(template, request, attributes, Some(CircuitState::Closed))
                    .await;
                if never_sent(&result) {
                    // Nothing reached the callee: its breaker has nothing to learn.
                    return result;
                }
                span.in_scope(|| record_transition(transition));
                let transition = breaker.record(succeeded(&result), Instant::now());
                span.in_scope(|| {
                    if !succeeded(&result) {
                        tracing::warn!(service_name = self.service, "circuit_failure");
                    }
                    record_transition(transition);
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
        let span = breaker_span(self.service, state);
        span.in_scope(|| tracing::warn!(service_name = self.service, "circuit_open"));
        let error = ClientError::CircuitOpen {
            service: self.service,
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
        request: reqwest::RequestBuilder,
        attributes: Vec<KeyValue>,
    ) -> Result<TracedResponse, ClientError> {
        let span = breaker_span(self.service, CircuitState::HalfOpen);
        let call = async {
            record_transition(transition);
            tracing::info!(service_name = self.service, "circuit_half_open_attempt");
            let guard = ProbeGuard {
                breaker,
                armed: true,
            };
            let (result, _) = self
                .send_traced(template, request, attributes, Some(CircuitState::HalfOpen))
                .await;
            if never_sent(&result) {
                // Not a probe after all: the guard hands it back for the next call.
                return result;
            }
            guard.disarm();
            let success = succeeded(&result);
            if !success {
                tracing::warn!(service_name = self.service, "circuit_failure");
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

    /// The call's last CLIENT span and its outcome (the span is returned on failure too, for
    /// breaker events). A call [`resendable`] is tried again after each of [`RESEND_DELAYS`].
    async fn send_traced(
        &self,
        template: &'static str,
        request: reqwest::RequestBuilder,
        attributes: Vec<KeyValue>,
        circuit: Option<CircuitState>,
    ) -> (Result<TracedResponse, ClientError>, Span) {
        let mut request = match request.build() {
            Ok(request) => request,
            Err(source) => {
                return (
                    Err(ClientError::from_reqwest(self.service, source)),
                    Span::none(),
                );
            }
        };
        let idempotent = request.method().is_idempotent();
        let mut resend_count = 0;
        loop {
            // A body that cannot be cloned (a stream) is sent once.
            let next = request.try_clone();
            let (result, span) = self
                .attempt(template, request, &attributes, circuit, resend_count)
                .await;
            match (
                resendable(&result, idempotent),
                next,
                RESEND_DELAYS.get(resend_count),
            ) {
                (true, Some(next), Some(delay)) => {
                    tokio::time::sleep(*delay).await;
                    request = next;
                    resend_count += 1;
                }
                _ => return (result, span),
            }
        }
    }

    /// One attempt of a call: its CLIENT span and outcome.
    async fn attempt(
        &self,
        template: &'static str,
        request: reqwest::Request,
        attributes: &[KeyValue],
        circuit: Option<CircuitState>,
        resend_count: usize,
    ) -> (Result<TracedResponse, ClientError>, Span) {
        let call = client::Call {
            template,
            peer_service: self.service,
            timeout: self.timeout,
        };
        let annotate = |span: &Span| {
            if let Some(state) = circuit {
                span.set_attribute("circuit_state", state.as_str());
            }
            if resend_count > 0 {
                span.set_attribute("http.request.resend_count", resend_count as i64);
            }
            for KeyValue { key, value, .. } in attributes {
                span.set_attribute(key.clone(), value.clone());
            }
        };
        match client::send_annotated(&self.http, request, call, annotate).await {
            (Ok(response), span) => (
                Ok(TracedResponse {
                    service: self.service,
                    response,
                    span: span.clone(),
                }),
                span,
            ),
            (Err(source), span) => (Err(ClientError::from_reqwest(self.service, source)), span),
        }
    }
}

/// Whether the request could not even be built (a malformed URL or header): a mistake here, not
/// an outcome of the callee's.
fn never_sent(result: &Result<TracedResponse, ClientError>) -> bool {
    matches!(result, Err(ClientError::Unavailable { source, .. }) if source.is_builder())
}

/// Whether a call that got no answer may be sent again: when no connection could be made
/// (refused, no such host), for any method, since nothing was sent; and when the connection
/// closed before an answer came — a kept-alive connection the callee closed as it began to shut
/// down, say — only for an idempotent method (RFC 9110 §9.2.2, `Method::is_idempotent`), since
/// the request may have been acted on. Never after a timeout, which already took its time.
fn resendable(result: &Result<TracedResponse, ClientError>, idempotent: bool) -> bool {
    let Err(ClientError::Unavailable { source, .. }) = result else {
        return false;
    };
    !source.is_timeout() && (source.is_connect() || (idempotent && source.is_request()))
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

/// Percent-encodes one path segment taken from a caller (an id, a SKU) for a downstream URL.
pub fn path_segment(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A downstream answer and the CLIENT span it belongs to (still open, so callers can add events).
#[derive(Debug)]
pub struct TracedResponse {
    service: &'static str,
    response: reqwest::Response,
    span: Span,
}

impl TracedResponse {
    /// The HTTP status of the answer.
    pub fn status(&self) -> reqwest::StatusCode {
        self.response.status()
    }

    /// The error for an answer whose status the caller's contract does not allow.
    pub fn unexpected_status(&self) -> ClientError {
        ClientError::UnexpectedStatus {
            service: self.service,
            status: self.response.status(),
        }
    }

    /// The response headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.response.headers()
    }

    /// The CLIENT span of this call: record events on it with `span.in_scope(|| ...)`.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Reads the body as JSON `T`, still inside the CLIENT span.
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, ClientError> {
        let service = self.service;
        self.response
            .json()
            .instrument(self.span)
            .await
            .map_err(|source| ClientError::InvalidResponse { service, source })
    }

    /// Reads the raw body, still inside the CLIENT span.
    pub async fn bytes(self) -> Result<bytes::Bytes, ClientError> {
        let service = self.service;
        self.response
            .bytes()
            .instrument(self.span)
            .await
            .map_err(|source| ClientError::from_reqwest(service, source))
    }

    /// The `error` message of a standard JSON error body (`{"error": ..}`), or the status text.
    pub async fn error_message(self) -> String {
        let status = self.status();
        let body: Option<serde_json::Value> = self.json().await.ok();
        body.as_ref()
            .and_then(|b| b.get("error"))
            .and_then(|e| e.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| status.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, StatusCode};

    #[test]
    fn only_a_callees_own_503_is_an_outage() {
        let relayed: HeaderMap = [(
            PROXY_STATUS,
            HeaderValue::from_static("order-service; next-hop=payment-service"),
        )]
        .into_iter()
        .collect();
        let own = HeaderMap::new();
        assert!(counts_as_outage(StatusCode::SERVICE_UNAVAILABLE, &own));
        assert!(!counts_as_outage(StatusCode::SERVICE_UNAVAILABLE, &relayed));
        for status in [500, 502, 504, 404, 429, 200] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!counts_as_outage(status, &own), "{status}");
            assert!(!counts_as_outage(status, &relayed), "{status}");
        }
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_built_leaves_the_breaker_alone() {
        let downstream = Downstream::new(
            "payment-service",
            "http://127.0.0.1:9",
            Duration::from_secs(1),
        )
        .with_circuit_breaker(BreakerConfig {
            failure_threshold: 1,
            open_for: Duration::from_secs(60),
        });
        for _ in 0..3 {
            // A header name with a newline: reqwest refuses to build the request.
            let request = downstream
                .request(reqwest::Method::GET, "/api/payments")
                .header("bad\nname", "x");
            let error = downstream.send("/api/payments", request).await.unwrap_err();
            assert!(
                matches!(error, ClientError::Unavailable { .. }),
                "{error:?}"
            );
        }
        assert_eq!(downstream.circuit_state(), Some(CircuitState::Closed));
    }

    #[test]
    fn a_relayed_failure_names_who_answers_and_who_failed() {
        let answer = |error: ClientError| error.proxy_status("order-service");
        assert_eq!(
            answer(ClientError::Timeout {
                service: "payment-service"
            }),
            "order-service; next-hop=payment-service; error=http_response_timeout"
        );
        assert_eq!(
            answer(ClientError::CircuitOpen {
                service: "user-service"
            }),
            "order-service; next-hop=user-service; error=destination_unavailable"
        );
        assert_eq!(
            answer(ClientError::UnexpectedStatus {
                service: "payment-service",
                status: StatusCode::INTERNAL_SERVER_ERROR,
            }),
            "order-service; next-hop=payment-service; received-status=500"
        );
    }
}
