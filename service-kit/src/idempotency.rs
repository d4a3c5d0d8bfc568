//! The callee's side of `Idempotency-Key` ([`crate::client::IDEMPOTENCY_KEY`]): the key a
//! request carries, recorded on its SERVER span. What a repeat is answered with is the service's
//! own business: a key is stored with the effect it names (the payment, the reservation), in the
//! same transaction, so the answer to a repeat can never disagree with what was done.

use axum::http::HeaderMap;
use opentelemetry::{Array, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The request's `Idempotency-Key`, if it has a usable one (visible ASCII, at most 255 bytes),
/// recorded on the current span as `http.request.header.idempotency-key` (the HTTP semantic
/// conventions' attribute for a captured request header).
pub fn key(headers: &HeaderMap) -> Option<String> {
    let key = headers
        .get(crate::client::IDEMPOTENCY_KEY)?
        .to_str()
        .ok()
        .filter(|key| !key.is_empty() && key.len() <= 255)?
        .to_owned();
    let value = Array::String(vec![StringValue::from(key.clone())]);
    tracing::Span::current()
        .set_attribute("http.request.header.idempotency-key", Value::Array(value));
    Some(key)
}

/// Records on the current span that this request repeats one already acted on, and is answered
/// as that one was: an `idempotent_replay` event.
pub fn replayed(key: &str) {
    tracing::info!(idempotency_key = key, "idempotent_replay");
}
