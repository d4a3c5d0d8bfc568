//! Marking a span failed the same way everywhere.

use std::fmt::Display;
use tracing::Span;

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
