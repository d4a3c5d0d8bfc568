//! The NATS hop: a PRODUCER span around each JetStream publish with the trace context and the
//! message id in the headers, and a CONSUMER span for each delivery that continues the trace the
//! headers carry.
//!
//! The header adapters are hand-written because no maintained crate bridges the OpenTelemetry
//! propagators to `async_nats::HeaderMap`; they are two small impls over the global propagator.
//!
//! ```no_run
//! # async fn relay(jetstream: async_nats::jetstream::Context) -> Result<(), Box<dyn std::error::Error>> {
//! use shared_tracing::nats;
//! // A child of the current span (or, for an outbox row, of its stored context).
//! let span = nats::producer_span("quotes.issued", "quote-1", None);
//! nats::publish(&jetstream, &span, "quotes.issued", "quote-1", b"{}".to_vec()).await?;
//! # Ok(()) }
//! ```

use async_nats::{HeaderMap, jetstream};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
};
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Writes propagation fields into NATS headers.
struct NatsInjector<'a>(&'a mut HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

/// Reads propagation fields from NATS headers.
struct NatsExtractor<'a>(&'a HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }

    /// Every value of a repeated header: a repeated `traceparent` must start a new trace, and
    /// repeated `tracestate` headers are combined.
    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.0.get_all(key).map(|value| value.as_str()).collect();
        (!values.is_empty()).then_some(values)
    }
}

/// Writes `traceparent`, `tracestate` and `baggage` for `context` into NATS message headers.
pub fn inject(context: &Context, headers: &mut HeaderMap) {
    crate::propagation::inject(context, &mut NatsInjector(headers));
}

/// The context carried by a message's headers; empty (a new root) when there is none or it is
/// malformed, so a message from a tool that knows nothing of tracing is still processed.
pub fn extract(headers: Option<&HeaderMap>) -> Context {
    match headers {
        Some(headers) => crate::propagation::extract(&NatsExtractor(headers)),
        None => Context::new(),
    }
}

/// A PRODUCER span `publish {subject}` with the messaging semantic-convention attributes, its
/// parent the current span (or, when `parent` is given, that context: an outbox row's); disabled
/// under work that is not sampled (or without an SDK), which passes on its context all the same.
pub fn producer_span(subject: &str, message_id: &str, parent: Option<Context>) -> Span {
    if parent.is_none() && !crate::spans::makes_spans() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "publish",
        otel.name = format!("publish {subject}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.destination.name = subject,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.message.id = message_id,
        messaging.nats.stream.sequence = Empty,
        error.type = Empty,
    );
    if let Some(parent) = parent {
        crate::spans::continue_from(&span, parent);
    }
    span
}

/// Publishes `payload` on `subject` inside `span` (a [`producer_span`]): the span's context and
/// `message_id` (`Nats-Msg-Id`, which makes a republished copy a duplicate the stream drops) go
/// into the headers, and the call returns once the stream has stored the message (its sequence
/// is recorded on the span) or failed (the span is marked failed).
pub async fn publish(
    jetstream: &jetstream::Context,
    span: &Span,
    subject: &str,
    message_id: &str,
    payload: Vec<u8>,
) -> Result<jetstream::publish::PublishAck, jetstream::context::PublishError> {
    let mut headers = HeaderMap::new();
    inject(&crate::spans::context(span), &mut headers);
    headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id);
    let acked = async {
        jetstream
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await?
            .await
    }
    .instrument(span.clone())
    .await;
    match &acked {
        Ok(ack) => {
            span.record("messaging.nats.stream.sequence", ack.sequence as i64);
            if ack.duplicate {
                // Dropped by the stream's duplicate window: the copy it holds is the one
                // consumed, so this publish has no consumer of its own (tracecheck knows).
                span.set_attribute("messaging.nats.duplicate", true);
            }
        }
        Err(error) => crate::spans::record_exception(span, "publish_failed", error),
    }
    acked
}

/// A CONSUMER span `process {subject}` for one delivery of `message` to the durable consumer
/// `group`, parented to the context in its headers (a new root when they carry none), with the
/// messaging attributes. It declares `otel.status_code` and `error.type`; handlers add business
/// attributes with `set_attribute`. Handle the message with [`crate::spans::instrument`], so that
/// a message of a trace nobody samples is handled without spans, its context passed on.
///
/// ```no_run
/// # async fn consume(mut messages: async_nats::jetstream::consumer::pull::Stream) {
/// use futures_util::StreamExt;
/// while let Some(Ok(message)) = messages.next().await {
///     let span = shared_tracing::nats::consumer_span(&message, "quotes");
///     let handle = async { /* the event's spans are children of the CONSUMER span */ };
///     shared_tracing::spans::instrument(handle, span).await;
///     let _ = message.ack().await;
/// }
/// # }
/// ```
pub fn consumer_span(message: &jetstream::Message, group: &str) -> Span {
    if crate::spans::sampling() == crate::spans::Sampling::Disabled {
        return Span::none();
    }
    let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
    let message_id = message
        .headers
        .as_ref()
        .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
        .map(|v| v.as_str());
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = format!("process {}", message.subject),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.destination.name = message.subject.as_str(),
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.consumer.group.name = group,
        messaging.message.id = message_id,
        messaging.nats.delivery_count = delivered,
        error.type = Empty,
    );
    crate::spans::continue_from(&span, extract(message.headers.as_ref()));
    span
}
