//! The events services hand each other over NATS JetStream — subjects and payloads defined once,
//! here — and how they travel: published inside a PRODUCER span with the trace context and a
//! `Nats-Msg-Id` in the headers, consumed by a durable pull consumer whose CONSUMER span continues
//! that trace, acked only after the handler succeeded, retried, and dead-lettered after
//! `max_deliver` deliveries.

use async_nats::{
    HeaderMap,
    jetstream::{
        self, AckKind,
        consumer::{AckPolicy, pull},
        stream,
    },
};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use shared_tracing::messaging::{self, Delivery};
use std::time::Duration;
use tracing::{Instrument, Span};

/// The stream that holds every order event (`orders.>`, the dead letters included).
pub const STREAM: &str = "ORDERS";
/// Where events that keep failing end up, with their headers (trace context included) plus
/// `dlq-reason` and `dlq-original-subject`.
pub const DEAD_LETTER_SUBJECT: &str = "orders.dlq";

/// An event: its subject, its `event_type`, and the message id that makes a republished copy a
/// duplicate the stream drops.
pub trait Event: Serialize + DeserializeOwned {
    /// The subject it is published on.
    const SUBJECT: &'static str;
    /// The `event_type` field of its payload.
    const TYPE: &'static str;
    /// The `Nats-Msg-Id`: one per event, the same for every copy of it.
    fn message_id(&self) -> String;
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The product.
    pub sku: String,
    /// How many.
    pub quantity: i64,
}

/// A confirmed order (paid, its stock held): order-service publishes it through its outbox, and
/// inventory-service sells the held stock. Only `order_id` is required to read one, so other
/// tools can announce orders too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order.
    pub order_id: String,
    /// Its customer.
    #[serde(default)]
    pub user_id: i64,
    /// The stock held for it; when given, it must be the order's reservation.
    #[serde(default)]
    pub reservation_id: Option<String>,
    /// What was ordered, one line per SKU.
    #[serde(default)]
    pub items: Vec<Line>,
    /// What was charged, in cents.
    #[serde(default)]
    pub total_cents: i64,
    /// The same as a decimal amount, as the JSON APIs show money (kept for readers of the
    /// first version of this event).
    #[serde(default)]
    pub total: f64,
    /// ISO 4217.
    #[serde(default)]
    pub currency: String,
}

impl Event for OrderCreated {
    const SUBJECT: &'static str = "orders.created";
    const TYPE: &'static str = "order.created";
    fn message_id(&self) -> String {
        // The order id alone, as the first version of this event had it.
        self.order_id.clone()
    }
}

/// An order's stock is sold: inventory-service publishes it after the sale, and order-service
/// marks the order `fulfilled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfilled {
    /// The order.
    pub order_id: String,
    /// The reservation whose stock was sold.
    pub reservation_id: String,
}

impl Event for OrderFulfilled {
    const SUBJECT: &'static str = "orders.fulfilled";
    const TYPE: &'static str = "order.fulfilled";
    fn message_id(&self) -> String {
        format!("{}:{}", Self::TYPE, self.order_id)
    }
}

/// The payload as published: the event's fields and its `event_type`.
pub fn payload<E: Event>(event: &E) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a, E> {
        event_type: &'static str,
        #[serde(flatten)]
        event: &'a E,
    }
    serde_json::to_vec(&Envelope {
        event_type: E::TYPE,
        event,
    })
    .expect("events serialise")
}

/// JetStream on `nats_url` — one server, or a cluster's as a comma-separated list (the NATS
/// convention; the client also learns the others from the server it reaches) — for the service
/// `name`. The connection is made in the background (and kept up with reconnects, to any server
/// of the list): a service starts, and serves, while the broker is down.
pub async fn connect(
    nats_url: &str,
    name: &str,
) -> Result<jetstream::Context, async_nats::ConnectError> {
    let servers: Vec<&str> = nats_url.split(',').map(str::trim).collect();
    let nats = async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(servers)
        .await?;
    Ok(jetstream::new(nats))
}

/// Creates the ORDERS stream unless it exists: file storage, `replicas` copies (`STREAM_REPLICAS`:
/// 3 on a three-node JetStream cluster, so a node can go without losing an event), and a
/// two-minute window in which a republished `Nats-Msg-Id` is dropped as a duplicate.
pub async fn ensure_stream(
    jetstream: &jetstream::Context,
    replicas: usize,
) -> Result<(), jetstream::context::CreateStreamError> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["orders.>".to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            num_replicas: replicas.max(1),
            ..Default::default()
        })
        .await?;
    tracing::info!(stream = STREAM, "stream ready");
    Ok(())
}

/// Publishes `payload` on `subject` inside `span` (a [`messaging::producer_span`]): the span's
/// context and `message_id` go into the headers, and the call returns once the stream has stored
/// the message (its sequence is recorded on the span) or failed (the span is marked failed).
pub async fn publish_in(
    jetstream: &jetstream::Context,
    span: &Span,
    subject: &str,
    message_id: &str,
    payload: Vec<u8>,
) -> Result<(), jetstream::context::PublishError> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut headers = HeaderMap::new();
    messaging::inject_nats(&span.context(), &mut headers);
    headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id);
    let acked = async {
        jetstream
            .publish_with_headers(subject.to_owned(), headers, payload.into())
            .await?
            .await
    }
    .instrument(span.clone())
    .await;
    match acked {
        Ok(ack) => {
            span.record("messaging.nats.stream.sequence", ack.sequence as i64);
            if ack.duplicate {
                // Dropped by the stream's duplicate window: the copy it holds is the one
                // consumed, so this publish has no consumer of its own (tracecheck knows).
                span.set_attribute("messaging.nats.duplicate", true);
            }
            Ok(())
        }
        Err(error) => {
            shared_tracing::spans::record_exception(span, "publish_failed", &error);
            Err(error)
        }
    }
}

/// Publishes `event` in a PRODUCER span that is a child of the current span.
pub async fn publish<E: Event>(
    jetstream: &jetstream::Context,
    event: &E,
) -> Result<(), jetstream::context::PublishError> {
    let message_id = event.message_id();
    let span = messaging::producer_span(E::SUBJECT, &message_id, None);
    publish_in(jetstream, &span, E::SUBJECT, &message_id, payload(event)).await
}

/// Why handling one message failed: a low-cardinality kind for `error.type`, and the cause.
#[derive(Debug)]
pub struct HandlerError {
    /// `invalid_payload`, `store_error`, ...
    pub kind: &'static str,
    /// What went wrong.
    pub cause: Box<dyn std::error::Error + Send + Sync>,
    /// The broker or another dependency failed, not the event: retried for as long as it takes,
    /// never dead-lettered.
    pub transient: bool,
}

impl HandlerError {
    /// An error of `kind`.
    pub fn new(
        kind: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            kind,
            cause: cause.into(),
            transient: false,
        }
    }

    /// An error of `kind` that says nothing about the event: the broker was failing over, a
    /// publish timed out. The event is retried with a growing delay until it goes through.
    pub fn transient(
        kind: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            transient: true,
            ..Self::new(kind, cause)
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cause.fmt(f)
    }
}

/// What a consumer does with one event, inside its CONSUMER span. Handling must be idempotent:
/// JetStream delivers at least once.
pub trait Handler<E: Event>: Send + Sync + 'static {
    /// Handles `event`; an error makes the message come back after the retry delay.
    fn handle(&self, event: E) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Delivery settings of a durable consumer, for a service's `Config` (`#[command(flatten)]`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ConsumerSettings {
    /// Deliveries of one event before a failure of its handling sends it to `orders.dlq`. A
    /// transient failure (the broker failing over) never dead-letters an event: it is retried
    /// until it goes through (its deliveries still count, so a real failure after many of them
    /// dead-letters at once).
    #[arg(
        long = "consumer-max-deliver",
        env = "CONSUMER_MAX_DELIVER",
        default_value_t = 5
    )]
    pub max_deliver: i64,
    /// How long a delivered event may stay unacknowledged before JetStream delivers it again
    /// (after a crash mid-batch, for instance), in milliseconds.
    #[arg(long = "consumer-ack-wait-ms", env = "CONSUMER_ACK_WAIT_MS", default_value = "30000", value_parser = crate::config::millis)]
    pub ack_wait: Duration,
    /// Delay before a failed event is delivered again, in milliseconds.
    #[arg(long = "consumer-retry-delay-ms", env = "CONSUMER_RETRY_DELAY_MS", default_value = "1000", value_parser = crate::config::millis)]
    pub retry_delay: Duration,
}

/// Each pull request waits this long for messages before a new one is sent, and the server sends
/// a heartbeat this often while it waits: a consumer that vanished (a broker back with an empty
/// store) is noticed within seconds, not the client's default 30.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The durable pull consumer `durable` of `E`'s subject on the ORDERS stream, handing each event
/// to a [`Handler`].
pub struct Consumer<E, H> {
    jetstream: jetstream::Context,
    durable: &'static str,
    settings: ConsumerSettings,
    handler: H,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: Event, H: Handler<E>> Consumer<E, H> {
    /// A consumer named `durable` (shared by every worker of one service).
    pub fn new(
        jetstream: jetstream::Context,
        durable: &'static str,
        settings: ConsumerSettings,
        handler: H,
    ) -> Self {
        Self {
            jetstream,
            durable,
            settings,
            handler,
            _event: std::marker::PhantomData,
        }
    }

    /// Consumes until the process ends, reconnecting with backoff while NATS or the stream is not
    /// there (the stream is created by its publisher; this side waits for it).
    pub async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.consume(&mut backoff).await {
                Ok(()) => {
                    tracing::warn!(subject = E::SUBJECT, "message stream ended, resubscribing")
                }
                Err(error) => {
                    tracing::warn!(%error, subject = E::SUBJECT, retry_in_ms = backoff.as_millis() as u64, "consumer not running, retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn consume(&self, backoff: &mut Duration) -> Result<(), async_nats::Error> {
        let stream = self.jetstream.get_stream(STREAM).await?;
        let mut messages: pull::Stream = stream
            // Create or update: a durable made by an older version gets today's settings (the
            // unlimited server-side delivery count above all; get-or-create would keep its old
            // limit, and a transient failure at that limit would be neither retried nor
            // dead-lettered). A change the server cannot apply fails here, loudly, and is retried.
            .create_consumer(pull::Config {
                durable_name: Some(self.durable.to_owned()),
                filter_subject: E::SUBJECT.to_owned(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.settings.ack_wait,
                // Unlimited on the server: this side decides when an event is poison (see
                // `handle`), so an event is never dropped by a delivery limit while the
                // broker is failing over, nor after a dead-lettering that did not go through.
                max_deliver: -1,
                ..Default::default()
            })
            .await?
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await?;
        tracing::info!(
            stream = STREAM,
            consumer = self.durable,
            subject = E::SUBJECT,
            "consuming"
        );
        *backoff = MIN_BACKOFF;
        while let Some(message) = messages.next().await {
            self.handle(message?).await;
        }
        Ok(())
    }

    async fn handle(&self, message: jetstream::Message) {
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.as_str().to_owned());
        let span = messaging::consumer_span(
            Delivery {
                subject: message.subject.as_str(),
                group: self.durable,
                message_id: message_id.as_deref(),
                delivered,
            },
            message.headers.as_ref(),
        );
        let outcome = async {
            let event: E = serde_json::from_slice(&message.payload).map_err(|error| {
                let reason = format!("payload is not an {} event: {error}", E::TYPE);
                HandlerError::new("invalid_payload", reason)
            })?;
            self.handler.handle(event).await
        }
        .instrument(span.clone())
        .await;
        let acked = match outcome {
            Ok(()) => message.double_ack().await,
            Err(error) => {
                shared_tracing::spans::record_exception(&span, error.kind, &error);
                let poison = !error.transient && delivered >= self.settings.max_deliver;
                if poison
                    && dead_letter(&self.jetstream, &message, &error)
                        .instrument(span.clone())
                        .await
                {
                    message.ack_with(AckKind::Term).await
                } else {
                    // Again later; a transient failure waits longer each time (up to 10 s).
                    let attempts = u32::try_from(delivered.max(1)).unwrap_or(u32::MAX);
                    let delay = match error.transient {
                        true => self
                            .settings
                            .retry_delay
                            .saturating_mul(attempts)
                            .clamp(MIN_BACKOFF, MAX_BACKOFF),
                        false => self.settings.retry_delay,
                    };
                    message.ack_with(AckKind::Nak(Some(delay))).await
                }
            }
        };
        if let Err(error) = acked {
            // Not acked: JetStream redelivers after ack_wait, and handling is idempotent.
            span.in_scope(|| tracing::warn!(%error, "ack failed"));
        }
    }
}

/// Republishes a message that failed every delivery to [`DEAD_LETTER_SUBJECT`], keeping its
/// headers (and so its trace context) and adding why it failed. Returns whether the stream
/// stored it: if not, the message stays where it is and comes back, so it is never dropped.
async fn dead_letter(
    jetstream: &jetstream::Context,
    message: &jetstream::Message,
    error: &HandlerError,
) -> bool {
    let mut headers = HeaderMap::new();
    let mut original_id = None;
    for (name, values) in message.headers.iter().flat_map(|h| h.iter()) {
        // The original id would make the stream drop this copy as a duplicate.
        if *name == async_nats::header::NATS_MESSAGE_ID {
            original_id = values.first().map(|v| v.as_str().to_owned());
            continue;
        }
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(id) = original_id {
        headers.insert(async_nats::header::NATS_MESSAGE_ID, format!("dlq-{id}"));
    }
    headers.insert("dlq-reason", error.to_string());
    headers.insert("dlq-original-subject", message.subject.as_str());
    let published = async {
        jetstream
            .publish_with_headers(DEAD_LETTER_SUBJECT, headers, message.payload.clone())
            .await?
            .await
    }
    .await;
    match published {
        Ok(_) => {
            tracing::warn!(subject = DEAD_LETTER_SUBJECT, "message dead-lettered");
            true
        }
        Err(error) => {
            tracing::error!(%error, "dead-lettering failed; the message will come back");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_event_type_and_read_back() {
        let event = OrderFulfilled {
            order_id: "o-1".into(),
            reservation_id: "r-1".into(),
        };
        let json: serde_json::Value = serde_json::from_slice(&payload(&event)).unwrap();
        assert_eq!(json["event_type"], "order.fulfilled");
        assert_eq!(json["order_id"], "o-1");
        let back: OrderFulfilled = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(event.message_id(), "order.fulfilled:o-1");
    }

    #[test]
    fn an_order_created_needs_only_its_order_id() {
        let event: OrderCreated = serde_json::from_str(r#"{"order_id": "external-1"}"#).unwrap();
        assert_eq!(event.order_id, "external-1");
        assert_eq!(event.reservation_id, None);
        assert!(serde_json::from_str::<OrderCreated>(r#"{"items": []}"#).is_err());
    }
}
