//! Propagation, free of any transport: the W3C Trace Context (Level 2, strict) and Baggage
//! propagators installed as the global ones, the carriers' common calls, and the ids of the
//! current span. The HTTP and NATS modules hand their headers to [`extract`] and [`inject`].

pub mod baggage;
pub mod trace_context;

pub use baggage::W3cBaggage;
pub use trace_context::W3cTraceContext;

use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector, TextMapCompositePropagator},
    trace::{SpanContext, TraceContextExt},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Sets W3C Trace Context ([`W3cTraceContext`]) + Baggage ([`W3cBaggage`]) as the global
/// propagators. The default is a no-op that silently injects nothing, so every process must call
/// this (`telemetry::init` does).
///
/// ```
/// shared_tracing::propagation::install_propagators();
/// let context = shared_tracing::propagation::extract(&std::collections::HashMap::from([(
///     "traceparent".to_owned(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
/// )]));
/// use opentelemetry::trace::TraceContextExt;
/// assert!(context.span().span_context().is_remote());
/// ```
pub fn install_propagators() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(W3cTraceContext),
        Box::new(W3cBaggage::new()),
    ]));
}

/// The remote context a carrier holds. A missing or malformed `traceparent` yields an empty
/// context, so a span created under it starts a new trace instead of failing the request.
pub fn extract(carrier: &dyn Extractor) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(carrier))
}

/// Writes `traceparent`, `tracestate` and `baggage` for `context` into a carrier.
pub fn inject(context: &Context, carrier: &mut dyn Injector) {
    global::get_text_map_propagator(|propagator| propagator.inject_context(context, carrier));
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
