//! Span status and parents, set the same way everywhere: a failed span, an exception event, and a
//! parent given to a span right after it is made.

use opentelemetry::{Context, trace::TraceContextExt};
use std::fmt::Display;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Marks `span` failed: `otel.status_code = error` and a low-cardinality `error.type`. The span
/// must declare both fields (as `Empty`) for the records to land.
pub fn mark_failed(span: &Span, error_type: &str) {
    span.record("otel.status_code", "error");
    span.record("error.type", error_type);
}

/// [`mark_failed`], plus an `exception` event with `exception.type` and `exception.message`.
pub fn record_exception(span: &Span, error_type: &str, message: &dyn Display) {
    mark_failed(span, error_type);
    span.in_scope(|| {
        tracing::error!(exception.type = error_type, exception.message = %message, "exception");
    });
}

/// Makes `parent` the parent of `span`, which must have just been created: the bridge refuses a
/// parent once the span has started (or its context was read). An empty `parent` leaves a root.
pub fn continue_from(span: &Span, parent: Context) {
    let _ = span.set_parent(parent);
}

/// `span`'s context as the parent of work that outlives it (a retry in the background): its span
/// context alone, without its baggage, so a fault a request asked for does not follow the work,
/// and the request's span is not held open by it.
pub fn detached(span: &Span) -> Context {
    let span_context = span.context().span().span_context().clone();
    Context::new().with_remote_span_context(span_context)
}
