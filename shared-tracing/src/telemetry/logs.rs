//! JSON log lines on stdout, each carrying the `trace_id` and `span_id` of the span it was
//! written in, so a log line leads straight to its trace.

use opentelemetry::trace::TraceContextExt;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;

/// The stdout JSON layer: timestamp, level, target, the event's fields flattened, and the
/// OpenTelemetry ids of the enclosing span.
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
        .add_multiple_dynamic_fields(|event, ctx, writer| {
            let Some(span) = ctx.event_span(event) else {
                return;
            };
            let context = tracing::dispatcher::get_default(|dispatch| {
                tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
            });
            if let Some(context) = context {
                let span_context = context.span().span_context().clone();
                if span_context.is_valid() {
                    let trace_id = crate::propagation::hex_trace_id(span_context.trace_id());
                    let span_id = crate::propagation::hex_span_id(span_context.span_id());
                    let _ = writer.write_field("trace_id", trace_id);
                    let _ = writer.write_field("span_id", span_id);
                }
            }
        });
    layer
}
