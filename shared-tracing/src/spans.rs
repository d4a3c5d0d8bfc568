//! Marking a span failed the same way everywhere.

use std::fmt::Display;
use tracing::Span;

/// Marks `span` failed (`otel.status_code = error`, `error.type`) and records an `exception`
/// event with `exception.type` and `exception.message`. The span must declare `otel.status_code`
/// and `error.type` (as `Empty`) for the two records to land.
pub fn record_exception(span: &Span, error_type: &str, message: &dyn Display) {
    span.record("otel.status_code", "error");
    span.record("error.type", error_type);
    span.in_scope(|| {
        tracing::error!(exception.type = error_type, exception.message = %message, "exception");
    });
}
