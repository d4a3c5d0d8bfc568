//! W3C Trace Context + Baggage propagation: the global propagators, header injection and
//! extraction, and the ids of the current span.

use opentelemetry::{
    Context, global,
    propagation::TextMapCompositePropagator,
    trace::{SpanContext, TraceContextExt},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Sets W3C Trace Context (Level 2, strict: [`crate::trace_context`]) + Baggage (strict:
/// [`crate::baggage`]) as the global
/// propagators. The default is a no-op that silently injects nothing, so every process must call
/// this (`init` does).
pub fn install_propagators() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(crate::trace_context::W3cTraceContext),
        Box::new(crate::baggage::W3cBaggage::new()),
    ]));
}

/// The remote context carried by `headers`. A missing or malformed `traceparent` yields an empty
/// context, so the span created under it starts a new trace instead of failing the request.
pub fn extract(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// Writes `traceparent`, `tracestate` and `baggage` for `context` into `headers`.
pub fn inject(context: &Context, headers: &mut http::HeaderMap) {
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(context, &mut HeaderInjector(headers))
    });
}

/// The span context of the current `tracing` span (invalid outside any span).
pub fn current_span_context() -> SpanContext {
    tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone()
}

/// The current trace id as 32 lowercase hex digits, or `None` outside a trace.
pub fn current_trace_id() -> Option<String> {
    let span_context = current_span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The W3C `traceresponse` header value for a span: `00-{trace-id}-{span-id}-{flags}`.
pub fn traceresponse(span_context: &SpanContext) -> Option<String> {
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}
