//! The `orders.created` consumer: a durable JetStream pull consumer `inventory` with explicit acks.
//!
//! Each event becomes a CONSUMER span `process orders.created` whose parent is the context in the
//! message headers (a message without one starts a new trace), with a child
//! `event_consumer.reserve_inventory` that moves the order's stock from reserved to sold. The
//! message is acked only after that commit; a failure is retried after a delay, and after
//! `max_deliver` deliveries the message goes to `orders.dlq` with its headers.

use crate::{
    clients::OrderClient,
    store::{self, Commit},
};
use async_nats::{
    HeaderMap,
    jetstream::{
        self, AckKind,
        consumer::{AckPolicy, pull},
    },
};
use futures_util::StreamExt;
use service_kit::ClientError;
use shared_tracing::messaging;
use sqlx::SqlitePool;
use std::time::Duration;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The stream order-service publishes to (it creates it; this side waits for it).
pub const STREAM: &str = "ORDERS";
/// The durable consumer's name, shared by every inventory worker.
pub const DURABLE: &str = "inventory";
/// The events this consumer processes.
pub const SUBJECT: &str = "orders.created";
/// Where events that keep failing end up.
pub const DEAD_LETTER_SUBJECT: &str = "orders.dlq";

/// Each pull request waits this long for messages before a new one is sent, and the server sends
/// a heartbeat this often while it waits: a consumer that vanished (a broker back with an empty
/// store) is noticed within seconds, not the client's default 30.
const PULL_EXPIRES: Duration = Duration::from_secs(5);
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Processes `orders.created` until the process ends.
pub(crate) struct Consumer {
    db: SqlitePool,
    jetstream: jetstream::Context,
    orders: OrderClient,
    settings: Settings,
}

/// Delivery settings of the durable consumer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Deliveries of one event before it is dead-lettered.
    pub(crate) max_deliver: i64,
    /// How long a delivery may stay unacknowledged before it is redelivered.
    pub(crate) ack_wait: Duration,
    /// Delay before a failed event is redelivered.
    pub(crate) retry_delay: Duration,
}

#[derive(Debug, serde::Deserialize)]
struct OrderCreated {
    order_id: String,
}

#[derive(Debug, thiserror::Error)]
enum ProcessError {
    #[error("payload is not an order.created event: {0}")]
    Payload(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error("telling order-service: {0}")]
    Notify(#[from] ClientError),
}

impl ProcessError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Payload(_) => "invalid_payload",
            Self::Store(_) => "store_error",
            Self::Notify(_) => "notify_failed",
        }
    }
}

impl Consumer {
    pub(crate) fn new(
        db: SqlitePool,
        jetstream: jetstream::Context,
        orders: OrderClient,
        settings: Settings,
    ) -> Self {
        Self {
            db,
            jetstream,
            orders,
            settings,
        }
    }

    /// Consumes forever, reconnecting with backoff while NATS or the stream is not there.
    pub(crate) async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.consume(&mut backoff).await {
                Ok(()) => tracing::warn!("message stream ended, resubscribing"),
                Err(error) => {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "consumer not running, retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn consume(&self, backoff: &mut Duration) -> Result<(), async_nats::Error> {
        let stream = self.jetstream.get_stream(STREAM).await?;
        let mut messages: pull::Stream = stream
            .get_or_create_consumer(
                DURABLE,
                pull::Config {
                    durable_name: Some(DURABLE.to_owned()),
                    filter_subject: SUBJECT.to_owned(),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: self.settings.ack_wait,
                    max_deliver: self.settings.max_deliver,
                    ..Default::default()
                },
            )
            .await?
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await?;
        tracing::info!(
            stream = STREAM,
            consumer = DURABLE,
            subject = SUBJECT,
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
            messaging.consumer.group.name = DURABLE,
            messaging.message.id = message_id.as_deref(),
            messaging.nats.delivery_count = delivered,
            order_id = Empty,
            error.type = Empty,
        );
        // Right after creation: the parent can only be set before the span starts.
        let _ = span.set_parent(messaging::extract_nats(message.headers.as_ref()));

        let outcome = self.process(&message, &span).instrument(span.clone()).await;
        let acked = match outcome {
            Ok(()) => message.double_ack().await,
            Err(error) => {
                shared_tracing::spans::record_exception(&span, error.kind(), &error);
                if delivered >= self.settings.max_deliver {
                    self.dead_letter(&message, &error)
                        .instrument(span.clone())
                        .await;
                    message.ack_with(AckKind::Term).await
                } else {
                    message
                        .ack_with(AckKind::Nak(Some(self.settings.retry_delay)))
                        .await
                }
            }
        };
        if let Err(error) = acked {
            // Not acked: JetStream redelivers after ack_wait, and processing is idempotent.
            span.in_scope(|| tracing::warn!(%error, "ack failed"));
        }
    }

    async fn process(&self, message: &jetstream::Message, span: &Span) -> Result<(), ProcessError> {
        let event: OrderCreated = serde_json::from_slice(&message.payload)?;
        span.record("order_id", event.order_id.as_str());
        self.reserve_inventory(&event.order_id).await?;
        self.orders.mark_fulfilled(&event.order_id).await?;
        Ok(())
    }

    /// Sells the stock held for the order: idempotent, so a redelivery changes nothing twice.
    #[tracing::instrument(
        name = "event_consumer.reserve_inventory",
        skip_all,
        fields(order_id = order_id, outcome = Empty)
    )]
    async fn reserve_inventory(&self, order_id: &str) -> Result<(), ProcessError> {
        let outcome = store::commit_reservation(&self.db, order_id).await?;
        let outcome = match outcome {
            Commit::Committed => "committed",
            Commit::CommittedAfterExpiry => "committed_after_expiry",
            Commit::AlreadyCommitted => "already_committed",
        };
        Span::current().record("outcome", outcome);
        tracing::info!(outcome, "stock moved from reserved to sold");
        Ok(())
    }

    /// Republishes a message that failed every delivery to `orders.dlq`, keeping its headers (and
    /// so its trace context) and adding why it failed.
    async fn dead_letter(&self, message: &jetstream::Message, error: &ProcessError) {
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
            self.jetstream
                .publish_with_headers(DEAD_LETTER_SUBJECT, headers, message.payload.clone())
                .await?
                .await
        }
        .await;
        match published {
            Ok(_) => tracing::warn!(subject = DEAD_LETTER_SUBJECT, "message dead-lettered"),
            Err(error) => tracing::error!(%error, "dead-lettering failed; the message is dropped"),
        }
    }
}
