//! CLIENT spans for database calls, with the `db.*` semantic-convention attributes.

use std::fmt::Display;
use tracing::{Instrument, field::Empty};

/// Runs one database call inside a CLIENT span named `{operation} {collection}`
/// (`SELECT users`), marking the span as failed when the call fails.
pub async fn query<T, E: Display>(
    operation: &'static str,
    collection: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = tracing::info_span!(
        "db query",
        otel.name = format!("{operation} {collection}"),
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_description = Empty,
        db.system.name = "sqlite",
        db.operation.name = operation,
        db.collection.name = collection,
    );
    let result = call.instrument(span.clone()).await;
    if let Err(error) = &result {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", error.to_string());
    }
    result
}
