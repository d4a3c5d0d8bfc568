//! A downstream service as every service calls it: base URL, timeout, pooled connections, an
//! optional circuit breaker ([`circuit`]) and resends when the connection is to blame
//! ([`resend`]); each attempt is one CLIENT span made by the tracing kit
//! ([`shared_tracing::http_client::send`]), and a failure is a [`ClientError`].

mod circuit;
mod error;
mod resend;

pub use error::{ClientError, PROXY_STATUS, counts_as_outage};

use crate::{
    breaker::{BreakerConfig, CircuitBreaker, CircuitState},
    identity::{Identity, SERVICE_AUTHORIZATION},
};
use opentelemetry::KeyValue;
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use shared_tracing::http_client::{self, Call};
use std::{sync::Arc, time::Duration};
use tracing::{Instrument, Span};

/// A downstream service: its name (for spans and errors), base URL, a client with a timeout, and
/// optionally a circuit breaker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Downstream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: &'static str,
    base_url: String,
    http: reqwest::Client,
    timeout: Duration,
    breaker: Option<CircuitBreaker>,
    identity: Identity,
}

/// The `Idempotency-Key` request header (IETF httpapi draft, as Stripe and others use it): the
/// caller names the request (`{order_id}:charge`), and the callee answers a repeat of it with the
/// first answer instead of acting twice. A POST that carries one is resent, as an idempotent
/// method is, when its connection closes before the answer.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long an idle pooled connection may be reused: below every service's header-read timeout.
const IDLE_CONNECTION_REUSE: Duration = Duration::from_secs(2);

impl Downstream {
    /// A client for `service` at `base_url` whose requests give up after `timeout`, each signed
    /// for `service` by `identity`.
    pub fn new(
        service: &'static str,
        base_url: impl Into<String>,
        timeout: Duration,
        identity: &Identity,
    ) -> Self {
        Self::build(service, base_url.into(), timeout, None, identity)
    }

    /// [`Self::new`] with every call sent through a circuit breaker: its state rides on the
    /// call's CLIENT span, and only a refused call or a half-open probe gets a
    /// `circuit_breaker.call` span of its own.
    pub fn with_circuit_breaker(
        service: &'static str,
        base_url: impl Into<String>,
        timeout: Duration,
        config: BreakerConfig,
        identity: &Identity,
    ) -> Self {
        Self::build(
            service,
            base_url.into(),
            timeout,
            Some(CircuitBreaker::new(config)),
            identity,
        )
    }

    fn build(
        service: &'static str,
        base_url: String,
        timeout: Duration,
        breaker: Option<CircuitBreaker>,
        identity: &Identity,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // Services close a connection that sends no request within their header-read timeout
            // (HTTP_HEADER_READ_TIMEOUT_MS, 5 s by default): reuse only connections idle for less,
            // so a request is never written into one the callee is closing.
            .pool_idle_timeout(IDLE_CONNECTION_REUSE)
            .build()
            .expect("a reqwest client with a timeout and a pool setting always builds");
        Self {
            inner: Arc::new(Inner {
                service,
                base_url: base_url.trim_end_matches('/').to_owned(),
                http,
                timeout,
                breaker,
                identity: identity.clone(),
            }),
        }
    }

    /// The breaker's state, if this downstream has one.
    pub fn circuit_state(&self) -> Option<CircuitState> {
        self.inner.breaker.as_ref().map(CircuitBreaker::state)
    }

    /// The downstream's service name.
    pub fn service(&self) -> &'static str {
        self.inner.service
    }

    /// Starts a request to `path` (e.g. `/api/payments`) on this downstream.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.inner
            .http
            .request(method, format!("{}{path}", self.inner.base_url))
    }

    /// [`Self::send_with`] without business attributes.
    pub async fn send(
        &self,
        template: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
    ) -> Result<TracedResponse, ClientError> {
        self.send_with(template, request, &[]).await
    }

    /// Sends the request `request` builds as one CLIENT span named `{METHOD} {template}`, where
    /// `template` is the low-cardinality path (`/api/reservations/{id}`), carrying `attributes`
    /// (the call's business context: `order_id`, `amount_cents`). `request` is called again only
    /// for a resend. 4xx and 5xx answers mark the span as an error but are returned as
    /// responses; a timeout adds a `timeout` event, a transport failure an `exception` event,
    /// and both are returned as errors.
    pub async fn send_with(
        &self,
        template: &'static str,
        request: impl Fn() -> RequestBuilder + Send + Sync,
        attributes: &[KeyValue],
    ) -> Result<TracedResponse, ClientError> {
        match &self.inner.breaker {
            Some(breaker) => {
                self.send_through(breaker, template, &request, attributes)
                    .await
            }
            None => self.attempts(template, &request, attributes, None).await.0,
        }
    }

    /// The call's attempts: the first, and a resend after each of [`resend::DELAYS`] while the
    /// outcome is [`resend::resendable`]. Returns the last outcome and its CLIENT span (on
    /// failure too, for the breaker's events).
    async fn attempts(
        &self,
        template: &'static str,
        request: &(dyn Fn() -> RequestBuilder + Sync),
        attributes: &[KeyValue],
        circuit: Option<CircuitState>,
    ) -> (Result<TracedResponse, ClientError>, Span) {
        let mut attributes = attributes.to_vec();
        if let Some(state) = circuit {
            attributes.push(KeyValue::new("circuit_state", state.as_str()));
        }
        let mut resend_count = 0;
        loop {
            let mut request = match request().build() {
                Ok(request) => request,
                Err(source) => {
                    let error = ClientError::from_reqwest(self.service(), source);
                    return (Err(error), Span::none());
                }
            };
            if let Some(credential) = self.inner.identity.credential_for(self.service()) {
                request
                    .headers_mut()
                    .insert(SERVICE_AUTHORIZATION, credential);
            }
            let idempotent =
                request.method().is_idempotent() || request.headers().contains_key(IDEMPOTENCY_KEY);
            let call = Call {
                template,
                peer_service: self.service(),
                timeout: self.inner.timeout,
                attributes: &attributes,
                resend_count,
            };
            let (result, span) = http_client::send(&self.inner.http, request, &call).await;
            let result = match result {
                Ok(response) => Ok(TracedResponse {
                    service: self.service(),
                    response,
                    span: span.clone(),
                }),
                Err(source) => Err(ClientError::from_reqwest(self.service(), source)),
            };
            match resend::DELAYS.get(resend_count) {
                Some(delay) if resend::resendable(&result, idempotent) => {
                    tokio::time::sleep(*delay).await;
                    resend_count += 1;
                }
                _ => return (result, span),
            }
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

    /// Whether the callee refused this service itself — a 401 or 403 from its access guard,
    /// with the service realm's challenge ([`crate::identity::CHALLENGE`]) — rather than an end
    /// user's token: a fault of the deployment, which the caller answers as a bad gateway
    /// ([`Self::unexpected_status`]), never as its own caller's 401 or 403.
    pub fn refused_caller(&self) -> bool {
        let status = self.status();
        (status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN)
            && self
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .is_some_and(|value| value == crate::identity::CHALLENGE)
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

    /// The standard JSON error body of an error answer; one that is not one becomes a body
    /// with the status text as its message.
    pub async fn error_body(self) -> crate::ErrorBody {
        let status = self.status();
        self.json()
            .await
            .unwrap_or_else(|_| crate::ErrorBody::new(status.to_string()))
    }

    /// The `error` message of a standard JSON error body (`{"error": ..}`), or the status text.
    pub async fn error_message(self) -> String {
        self.error_body().await.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_that_cannot_be_built_leaves_the_breaker_alone() {
        let downstream = Downstream::with_circuit_breaker(
            "payment-service",
            "http://127.0.0.1:9",
            Duration::from_secs(1),
            BreakerConfig {
                failure_threshold: 1,
                open_for: Duration::from_secs(60),
            },
            &Identity::anonymous("order-service"),
        );
        for _ in 0..3 {
            // A header name with a newline: reqwest refuses to build the request.
            let request = || {
                downstream
                    .request(reqwest::Method::GET, "/api/payments")
                    .header("bad\nname", "x")
            };
            let error = downstream.send("/api/payments", request).await.unwrap_err();
            assert!(
                matches!(error, ClientError::Unavailable { .. }),
                "{error:?}"
            );
        }
        assert_eq!(downstream.circuit_state(), Some(CircuitState::Closed));
    }
}
