//! The HTTP client hop: one CLIENT span per request sent with reqwest, `traceparent`,
//! `tracestate` and `baggage` injected while that span is current, the outcome on the span.
//!
//! Hand-written over plain reqwest rather than `reqwest-tracing`: its OpenTelemetry feature stops
//! at opentelemetry 0.32 and sends no `traceparent` with 0.33, and callers need the span handle
//! to record business events (`payment_declined`) on the CLIENT span itself.
//!
//! ```no_run
//! use shared_tracing::http_client::{self, Call};
//! # async fn quote() -> Result<(), reqwest::Error> {
//! let http = reqwest::Client::new();
//! let request = http.get("http://localhost:8084/api/stock/widget").build()?;
//! let call = Call::new("/api/stock/{sku}", "inventory-service", std::time::Duration::from_secs(2));
//! let (response, span) = http_client::send(&http, request, &call).await;
//! span.in_scope(|| tracing::info!(ok = response.is_ok(), "stock looked up"));
//! # Ok(()) }
//! ```

use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;
use std::time::Duration;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes `traceparent`, `tracestate` and `baggage` for `context` into request headers.
pub fn inject(context: &Context, headers: &mut http::HeaderMap) {
    crate::propagation::inject(context, &mut HeaderInjector(headers));
}

/// What one traced call is: the route template for the span name (`/api/reservations/{id}`), the
/// callee's name (`peer.service`), the client's timeout (reported when it fires), the caller's
/// own attributes (`order_id`), and which resend of the call this is.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The low-cardinality path.
    pub template: &'a str,
    /// The service called.
    pub peer_service: &'a str,
    /// The client's timeout.
    pub timeout: Duration,
    /// Business attributes for the CLIENT span.
    pub attributes: &'a [KeyValue],
    /// 0 for the first attempt; `http.request.resend_count` on the span otherwise.
    pub resend_count: usize,
}

impl<'a> Call<'a> {
    /// A first attempt without attributes of its own.
    pub fn new(template: &'a str, peer_service: &'a str, timeout: Duration) -> Self {
        Self {
            template,
            peer_service,
            timeout,
            attributes: &[],
            resend_count: 0,
        }
    }
}

/// Sends `request` inside a CLIENT span named `{METHOD} {template}` with the stable HTTP
/// semantic-convention attributes. 4xx and 5xx answers mark the span failed (the conventions'
/// rule for client spans); a timeout adds a `timeout` event, another transport failure an
/// `exception` event. The span is returned still open, so the caller can add events and read the
/// body inside it. Work that is not sampled, or a process without an SDK, gets a disabled span:
/// its context (if any) is injected all the same.
pub async fn send(
    http: &reqwest::Client,
    mut request: reqwest::Request,
    call: &Call<'_>,
) -> (Result<reqwest::Response, reqwest::Error>, Span) {
    let span = match crate::spans::makes_spans() {
        true => client_span(&request, call),
        false => Span::none(),
    };
    // Injected from the CLIENT span, so the callee's SERVER span becomes its child.
    inject(&crate::spans::context(&span), request.headers_mut());
    let result = http.execute(request).instrument(span.clone()).await;
    record_outcome(&span, &result, call);
    (result, span)
}

/// The CLIENT span of one call, its parent the current span.
fn client_span(request: &reqwest::Request, call: &Call<'_>) -> Span {
    let mut url = request.url().clone();
    // url.full must never carry credentials.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let span = tracing::info_span!(
        "HTTP client",
        otel.name = format!("{} {}", request.method(), call.template),
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = request.method().as_str(),
        http.response.status_code = Empty,
        url.full = url.as_str(),
        url.template = call.template,
        server.address = url.host_str(),
        server.port = url.port_or_known_default().map(i64::from),
        peer.service = call.peer_service,
        error.type = Empty,
    );
    if call.resend_count > 0 {
        span.set_attribute("http.request.resend_count", call.resend_count as i64);
    }
    for KeyValue { key, value, .. } in call.attributes {
        span.set_attribute(key.clone(), value.clone());
    }
    span
}

/// Reports the outcome of a call on its span (and, for a failure, in the log).
fn record_outcome(
    span: &Span,
    result: &Result<reqwest::Response, reqwest::Error>,
    call: &Call<'_>,
) {
    match result {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", i64::from(status.as_u16()));
            if status.is_client_error() || status.is_server_error() {
                crate::spans::mark_failed(span, status.as_str());
            }
        }
        Err(error) if error.is_timeout() => {
            crate::spans::mark_failed(span, "timeout");
            span.in_scope(|| {
                let timeout_ms = call.timeout.as_millis() as i64;
                tracing::error!(service = call.peer_service, timeout_ms, "timeout");
            });
        }
        Err(error) => {
            crate::spans::record_exception(span, transport_error_type(error), &cause_chain(error));
        }
    }
}

/// `error.type` of a failed call that got no answer: `timeout`, `connection_error` (no
/// connection was made) or `transport_error` (it broke after).
pub fn transport_error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection_error"
    } else {
        "transport_error"
    }
}

/// An error and its causes, `outer: inner: innermost` (reqwest hides "connection refused" three
/// levels down).
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}
