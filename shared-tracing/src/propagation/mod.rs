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
    trace::{SpanContext, SpanId, TraceContextExt, TraceId},
};

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

/// The span context of the current `tracing` span, or of the unsampled work running now
/// ([`crate::spans::context`]); invalid outside any trace.
pub fn current_span_context() -> SpanContext {
    crate::spans::context(&tracing::Span::current())
        .span()
        .span_context()
        .clone()
}

/// The current trace id as 32 lowercase hex digits, or `None` outside a trace.
pub fn current_trace_id() -> Option<String> {
    let span_context = current_span_context();
    span_context
        .is_valid()
        .then(|| hex_trace_id(span_context.trace_id()))
}

/// The W3C `traceresponse` header value for a span: `00-{trace-id}-{span-id}-{flags}`.
pub fn traceresponse(span_context: &SpanContext) -> Option<String> {
    span_context.is_valid().then(|| {
        header_value(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8(),
        )
    })
}

/// `00-{trace id}-{span id}-{flags}`, the form of `traceparent` and `traceresponse`. Written
/// digit by digit: it is made for every request, sampled or not, and `format!`'s padded `{:032x}`
/// costs ten times as many instructions (callgrind, docs/performance.md).
pub(crate) fn header_value(trace_id: TraceId, span_id: SpanId, flags: u8) -> String {
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    push_hex(&mut value, &trace_id.to_bytes());
    value.push('-');
    push_hex(&mut value, &span_id.to_bytes());
    value.push('-');
    push_hex(&mut value, &[flags]);
    value
}

/// A trace id as 32 lowercase hex digits (what `TraceId`'s `Display` writes, for less).
pub fn hex_trace_id(trace_id: TraceId) -> String {
    let mut hex = String::with_capacity(32);
    push_hex(&mut hex, &trace_id.to_bytes());
    hex
}

/// A span id as 16 lowercase hex digits.
pub fn hex_span_id(span_id: SpanId) -> String {
    let mut hex = String::with_capacity(16);
    push_hex(&mut hex, &span_id.to_bytes());
    hex
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The digit-by-digit form is what the formatting machinery writes.
        #[test]
        fn header_values_are_what_format_writes(trace in any::<u128>(), span in any::<u64>(), flags in any::<u8>()) {
            let (trace_id, span_id) = (TraceId::from(trace), SpanId::from(span));
            prop_assert_eq!(
                header_value(trace_id, span_id, flags),
                format!("00-{trace_id}-{span_id}-{flags:02x}")
            );
            prop_assert_eq!(hex_trace_id(trace_id), trace_id.to_string());
            prop_assert_eq!(hex_span_id(span_id), span_id.to_string());
        }
    }
}
