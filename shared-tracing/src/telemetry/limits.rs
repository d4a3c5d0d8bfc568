//! Attribute values cut to a length before export (`OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
//! `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, as the specification names them): the Rust SDK limits
//! only counts, and one oversized value — a 50 KB path or SKU from a caller — would be copied into
//! every span that records it and could push an export batch past a collector's limit.

use opentelemetry::{Array, Context, StringValue, Value, trace::Status};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};
use std::time::Duration;

/// The limit when neither variable is set, in characters: longer than any value the services
/// record on purpose (a URL with its query, a SQL statement), far below a collector's limits.
pub const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT: usize = 1024;

/// Wraps a processor (the batch exporter's) and cuts every string attribute value of a span, its
/// events and its links, every string in an array value, the span's name and its status
/// description to `limit` characters before passing the span on.
#[derive(Debug)]
pub struct TruncatingProcessor<P> {
    inner: P,
    limit: usize,
}

impl<P> TruncatingProcessor<P> {
    /// `inner`, with values cut to `limit` characters.
    pub fn new(inner: P, limit: usize) -> Self {
        Self { inner, limit }
    }
}

impl<P: SpanProcessor> SpanProcessor for TruncatingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        let events = span
            .events
            .events
            .iter_mut()
            .flat_map(|e| &mut e.attributes);
        let links = span.links.links.iter_mut().flat_map(|l| &mut l.attributes);
        for attribute in span.attributes.iter_mut().chain(events).chain(links) {
            truncate(&mut attribute.value, self.limit);
        }
        // The name and the status description can carry input too.
        if let Some(kept) = prefix(&span.name, self.limit) {
            span.name = kept.to_owned().into();
        }
        if let Status::Error { description } = &mut span.status
            && let Some(kept) = prefix(description, self.limit)
        {
            *description = kept.to_owned().into();
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The first `limit` characters of `value`, when it has more.
pub fn prefix(value: &str, limit: usize) -> Option<&str> {
    // No more bytes than the limit, so no more characters: nothing to count (nearly every value
    // of every span, each time one ends).
    if value.len() <= limit {
        return None;
    }
    value
        .char_indices()
        .nth(limit)
        .map(|(end, _)| &value[..end])
}

fn truncate(value: &mut Value, limit: usize) {
    match value {
        Value::String(s) => cut(s, limit),
        Value::Array(Array::String(items)) => items.iter_mut().for_each(|s| cut(s, limit)),
        _ => {}
    }
}

fn cut(value: &mut StringValue, limit: usize) {
    if let Some(kept) = prefix(value.as_str(), limit) {
        *value = StringValue::from(kept.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::{
        KeyValue,
        trace::{Span as _, Tracer, TracerProvider as _},
    };
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};

    #[test]
    fn long_values_are_cut_and_short_ones_kept() {
        let exporter = InMemorySpanExporter::default();
        let processor = TruncatingProcessor::new(SimpleSpanProcessor::new(exporter.clone()), 8);
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        let mut span = provider.tracer("test").start("span");
        span.set_attribute(KeyValue::new(
            "url.path",
            "/api/inventory/".to_owned() + &"x".repeat(50_000),
        ));
        span.set_attribute(KeyValue::new("sku", "widget"));
        span.set_attribute(KeyValue::new("http.response.status_code", 404));
        span.set_attribute(KeyValue::new(
            "list",
            Value::Array(Array::String(vec!["ééééééééé".into(), "ok".into()])),
        ));
        span.add_event(
            "exception",
            vec![KeyValue::new("exception.message", "y".repeat(100))],
        );
        span.end();
        let spans = exporter.get_finished_spans().unwrap();
        let attribute = |key: &str| {
            spans[0]
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
                .unwrap()
        };
        assert_eq!(attribute("url.path"), Value::from("/api/inv"));
        assert_eq!(attribute("sku"), Value::from("widget"));
        assert_eq!(attribute("http.response.status_code"), Value::I64(404));
        assert_eq!(
            attribute("list"),
            Value::Array(Array::String(vec!["éééééééé".into(), "ok".into()]))
        );
        let event = &spans[0].events.events[0].attributes[0];
        assert_eq!(event.value, Value::from("yyyyyyyy"));
    }
}
