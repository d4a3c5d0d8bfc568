//! Trace context across the async hops: in NATS message headers, and in the string map an outbox
//! row stores until its event is published; and the PRODUCER and CONSUMER spans around them.
//!
//! Hand-written because no maintained crate bridges the OpenTelemetry propagators to
//! `async_nats::HeaderMap`; it is two small adapters over the global propagator.

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
};
use std::collections::HashMap;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes propagation fields into NATS headers.
struct NatsInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

/// Reads propagation fields from NATS headers.
struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }

    /// Every value of a repeated header: a repeated `traceparent` must start a new trace, and
    /// repeated `tracestate` headers are combined.
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.0.get_all(key).map(|value| value.as_str()).collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes `traceparent`, `tracestate` and `baggage` for `context` into NATS message headers.
pub fn inject_nats(context: &Context, headers: &mut async_nats::HeaderMap) {
    global::get_text_map_propagator(|p| p.inject_context(context, &mut NatsInjector(headers)));
}

/// The context carried by a message's headers; empty (a new root) when there is none or it is
/// malformed, so a message from a tool that knows nothing of tracing is still processed.
pub fn extract_nats(headers: Option<&async_nats::HeaderMap>) -> Context {
    match headers {
        Some(headers) => global::get_text_map_propagator(|p| p.extract(&NatsExtractor(headers))),
        None => Context::new(),
    }
}

/// The propagation fields of `context` as a JSON map, to store beside a row (an outbox event, a
/// reservation) and continue the trace from later.
pub fn context_to_json(context: &Context) -> String {
    let mut map = HashMap::<String, String>::new();
    global::get_text_map_propagator(|p| p.inject_context(context, &mut map));
    serde_json::to_string(&map).expect("a string map always serialises")
}

/// The context stored by [`context_to_json`]; an error when `json` is not a map of strings.
pub fn context_from_json(json: &str) -> Result<Context, serde_json::Error> {
    let map: HashMap<String, String> = serde_json::from_str(json)?;
    Ok(global::get_text_map_propagator(|p| p.extract(&map)))
}

/// A PRODUCER span `publish {subject}` with the messaging semantic-convention attributes, its
/// parent the current span (or, when `parent` is given, that stored context: an outbox row's). It
/// declares `messaging.nats.stream.sequence`, `otel.status_code` and `error.type` to record later.
pub fn producer_span(subject: &str, message_id: &str, parent: Option<Context>) -> Span {
    let span = tracing::info_span!(
        "publish",
        otel.name = format!("publish {subject}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.destination.name = subject,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.message.id = message_id,
        messaging.nats.stream.sequence = Empty,
        error.type = Empty,
    );
    if let Some(parent) = parent {
        // Right after creation: the parent can only be set before the span starts.
        let _ = span.set_parent(parent);
    }
    span
}

/// What a CONSUMER span says about the message it processes.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The subject the message came on.
    pub subject: &'a str,
    /// The durable consumer (`messaging.consumer.group.name`).
    pub group: &'a str,
    /// The `Nats-Msg-Id`, if the publisher set one.
    pub message_id: Option<&'a str>,
    /// How many times it has been delivered, this time included.
    pub delivered: i64,
}

/// A CONSUMER span `process {subject}` parented to the context in the message `headers` (a new
/// root when they carry none), with the messaging attributes. It declares `otel.status_code` and
/// `error.type`; handlers add business attributes with `set_attribute`.
pub fn consumer_span(delivery: Delivery<'_>, headers: Option<&async_nats::HeaderMap>) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = format!("process {}", delivery.subject),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.destination.name = delivery.subject,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.consumer.group.name = delivery.group,
        messaging.message.id = delivery.message_id,
        messaging.nats.delivery_count = delivery.delivered,
        error.type = Empty,
    );
    // Right after creation: the parent can only be set before the span starts.
    let _ = span.set_parent(extract_nats(headers));
    span
}
