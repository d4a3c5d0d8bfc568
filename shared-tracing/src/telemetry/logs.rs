//! JSON log lines on stdout, each carrying the `trace_id` and `span_id` of the span it was
//! written in (or of the unsampled work it was written in), so a log line leads straight to its
//! trace.

use opentelemetry::trace::TraceContextExt;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// The stdout JSON layer: timestamp, level, target, the event's fields flattened, and the
/// OpenTelemetry ids of the enclosing span. Filter it with [`events_only`].
pub(crate) fn json_layer<S>() -> json_subscriber::fmt::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let mut layer = json_subscriber::fmt::layer()
        .with_current_span(false)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true);
    layer
        .inner_layer_mut()
        .add_multiple_dynamic_fields(|event, _, writer| {
            // The SDK's own warnings can be written while it holds the thread's context: they
            // belong to no trace, and reading the context there would fail.
            if event.metadata().target().starts_with("opentelemetry") {
                return;
            }
            // Unsampled work has no bridged span: its ids are in the context attached to it.
            let context = match crate::spans::unsampled_attached() {
                true => opentelemetry::Context::current(),
                // The layer sees no spans (`events_only`): the event's explicit parent, or the
                // dispatcher's current span.
                false => {
                    let context = tracing::dispatcher::get_default(|dispatch| {
                        let id = match event.parent() {
                            Some(parent) => parent.clone(),
                            None if event.is_root() => return None,
                            None => dispatch.current_span().id()?.clone(),
                        };
                        tracing_opentelemetry::get_otel_context(&id, dispatch)
                    });
                    let Some(context) = context else {
                        return;
                    };
                    context
                }
            };
            let span_context = context.span().span_context().clone();
            if span_context.is_valid() {
                let trace_id = crate::propagation::hex_trace_id(span_context.trace_id());
                let span_id = crate::propagation::hex_span_id(span_context.span_id());
                let _ = writer.write_field("trace_id", trace_id);
                let _ = writer.write_field("span_id", span_id);
            }
        });
    layer
}

/// What the JSON layer is given: events, never spans. A line prints no span fields, so a span
/// shown to the layer would only have its fields formatted as JSON, at every span, for nothing
/// (callgrind put it at a fifth of what tracing cost a request).
pub(crate) fn events_only<S>() -> impl tracing_subscriber::layer::Filter<S> {
    // The hint keeps `RUST_LOG`'s level as the one callsites are cut at.
    tracing_subscriber::filter::filter_fn(|metadata| metadata.is_event())
        .with_max_level_hint(tracing::level_filters::LevelFilter::TRACE)
}
