//! Stored context: a trace context kept as JSON beside a row — an outbox event, a held
//! reservation — so that work done later, in another task or after a restart, continues the
//! trace of the request that wrote the row.

use opentelemetry::Context;
use std::collections::HashMap;
use tracing::Span;

/// The propagation fields of `context` as a JSON map (`traceparent`, `tracestate`, `baggage`).
pub fn to_json(context: &Context) -> String {
    let mut map = HashMap::<String, String>::new();
    crate::propagation::inject(context, &mut map);
    serde_json::to_string(&map).expect("a string map always serialises")
}

/// The context of `span`, as [`to_json`] stores it: capture it where the row is written.
///
/// ```
/// shared_tracing::propagation::install_propagators();
/// let json = shared_tracing::stored::capture(&tracing::Span::current());
/// // Outside any trace there is nothing to continue: an empty map.
/// assert_eq!(json, "{}");
/// ```
pub fn capture(span: &Span) -> String {
    to_json(&crate::spans::context(span))
}

/// The context stored by [`to_json`]; an error when `json` is not a map of strings.
pub fn from_json(json: &str) -> Result<Context, serde_json::Error> {
    let map: HashMap<String, String> = serde_json::from_str(json)?;
    Ok(crate::propagation::extract(&map))
}

/// Makes the stored context the parent of `span`, which must have just been created. A stored
/// value that is not a JSON map leaves `span` a root and says why.
///
/// ```
/// shared_tracing::propagation::install_propagators();
/// // Read back with the row, later, in another task or process:
/// let stored = r#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;
/// let span = tracing::info_span!("relay.publish");
/// shared_tracing::stored::continue_from(&span, stored).expect("a stored context");
/// ```
pub fn continue_from(span: &Span, json: &str) -> Result<(), serde_json::Error> {
    crate::spans::continue_from(span, from_json(json)?);
    Ok(())
}
