//! A durable pull consumer of one event type: each delivery handled inside its CONSUMER span
//! (the kit's [`shared_tracing::nats::consumer_span`]), acked only after the handler succeeded,
//! retried after a failure, and dead-lettered once it has failed `max_deliver` times.

use super::{Event, dead_letter};
use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, pull},
};
use futures_util::StreamExt;
use shared_tracing::nats;
use std::time::Duration;
use tracing::Instrument;

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

    /// Consumes until `stopping` resolves, reconnecting with backoff while NATS or the stream is
    /// not there (the stream is created by its publisher; this side waits for it). A stop ends it
    /// between two events — the one being handled is handled and acknowledged first, its spans
    /// ended — so a stop never leaves an event half-handled
    /// ([`crate::Application::spawn_graceful`]).
    pub async fn run_until(self, mut stopping: crate::Stopping) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.consume(&mut backoff, &mut stopping).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(subject = E::SUBJECT, "message stream ended, resubscribing")
                }
                Err(error) => {
                    tracing::warn!(%error, subject = E::SUBJECT, retry_in_ms = backoff.as_millis() as u64, "consumer not running, retrying");
                }
            }
            tokio::select! {
                () = stopping.wait() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Handles events until the stream ends (`false`) or the application stops (`true`).
    async fn consume(
        &self,
        backoff: &mut Duration,
        stopping: &mut crate::Stopping,
    ) -> Result<bool, async_nats::Error> {
        let stream = self.jetstream.get_stream(E::STREAM.name).await?;
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
            stream = E::STREAM.name,
            consumer = self.durable,
            subject = E::SUBJECT,
            "consuming"
        );
        *backoff = MIN_BACKOFF;
        loop {
            // Only the wait for the next event is cut short by a stop, never its handling.
            let next = tokio::select! {
                biased;
                () = stopping.wait() => return Ok(true),
                next = messages.next() => next,
            };
            match next {
                Some(message) => self.handle(message?).await,
                None => return Ok(false),
            }
        }
    }

    async fn handle(&self, message: jetstream::Message) {
        let delivered = message.info().map(|info| info.delivered).unwrap_or(1);
        let span = nats::consumer_span(&message, self.durable);
        let handled = async {
            let event: E = serde_json::from_slice(&message.payload).map_err(|error| {
                let reason = format!("payload is not an {} event: {error}", E::TYPE);
                HandlerError::new("invalid_payload", reason)
            })?;
            self.handler.handle(event).await
        };
        // A message of a trace not sampled is handled under its context, outside the bridge.
        let outcome = shared_tracing::spans::instrument(handled, span.clone()).await;
        let acked = match outcome {
            Ok(()) => message.double_ack().await,
            Err(error) => {
                shared_tracing::spans::record_exception(&span, error.kind, &error);
                let poison = !error.transient && delivered >= self.settings.max_deliver;
                if poison
                    && dead_letter::publish(&self.jetstream, E::STREAM, &message, &error)
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
