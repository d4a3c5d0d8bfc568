//! Trace context across the async hop: in NATS message headers, and in the string map an outbox
//! row stores until its event is published.
//!
//! Hand-written because no maintained crate bridges the OpenTelemetry propagators to
//! `async_nats::HeaderMap`; it is two small adapters over the global propagator.

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
};
use std::collections::HashMap;

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

/// The propagation fields of `context` as a map, to store beside an outbox row.
pub fn context_to_map(context: &Context) -> HashMap<String, String> {
    let mut map = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(context, &mut map));
    map
}

/// The context stored by [`context_to_map`].
pub fn context_from_map(map: &HashMap<String, String>) -> Context {
    global::get_text_map_propagator(|p| p.extract(map))
}
