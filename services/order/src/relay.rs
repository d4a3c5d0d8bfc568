//! The outbox relay: publishes committed `order.created` events to NATS JetStream, marks them sent
//! once the stream has acknowledged them, and retries with backoff while NATS is unreachable.
//!
//! Every attempt is a PRODUCER span `publish orders.created` whose parent is the trace context
//! stored with the row, so the publish — and the consumer after it — join the request's trace
//! even when the broker was down at the time.

use crate::store::{self, PendingEvent};
use async_nats::jetstream;
use service_kit::events;
use shared_tracing::{nats, stored};
use sqlx::SqlitePool;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const BATCH: i64 = 100;
const IDLE_POLL: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Publishes the outbox. Cheap to clone: `wake` after committing an event to publish it now.
#[derive(Clone)]
pub(crate) struct Relay {
    db: SqlitePool,
    jetstream: jetstream::Context,
    /// `STREAM_REPLICAS`, for the stream it creates.
    replicas: usize,
    wake: Arc<Notify>,
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("ensuring the ORDERS stream: {0}")]
    Stream(#[from] jetstream::context::CreateStreamError),
    #[error("publishing: {0}")]
    Publish(#[from] jetstream::context::PublishError),
    #[error("outbox: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored trace context is not a JSON map: {0}")]
    Context(#[from] serde_json::Error),
}

impl Relay {
    pub(crate) fn new(db: SqlitePool, jetstream: jetstream::Context, replicas: usize) -> Self {
        Self {
            db,
            jetstream,
            replicas,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Asks the relay to look at the outbox now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until the process ends: ensures the stream, then publishes whatever is pending. After
    /// a failed round the stream is ensured again: a broker that came back with an empty store
    /// (a lost volume, a new node) has no stream, and publishing would fail for ever.
    pub(crate) async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        let mut stream_ready = false;
        loop {
            let round = async {
                if !stream_ready {
                    let stream = contracts::events::ORDERS;
                    events::ensure_stream(&self.jetstream, stream, self.replicas).await?;
                    stream_ready = true;
                }
                self.publish_pending().await
            };
            match round.await {
                Ok(()) => {
                    backoff = MIN_BACKOFF;
                    let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                }
                Err(error) => {
                    stream_ready = false;
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn publish_pending(&self) -> Result<(), RelayError> {
        loop {
            let batch = store::pending_events(&self.db, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for event in &batch {
                self.publish(event).await?;
            }
        }
    }

    async fn publish(&self, event: &PendingEvent) -> Result<(), RelayError> {
        let stored = stored::from_json(&event.trace_context)?;
        let span = nats::producer_span(&event.subject, &event.message_id, Some(stored));
        span.set_attribute("order_id", event.message_id.clone());
        span.set_attribute("event_type", event.event_type.clone());
        span.set_attribute("outbox.attempt", event.attempts + 1);
        let payload = event.payload.clone().into_bytes();
        let published = nats::publish(
            &self.jetstream,
            &span,
            &event.subject,
            &event.message_id,
            payload,
        )
        .await;
        match published {
            Ok(_) => {
                store::mark_published(&self.db, event.id)
                    .instrument(span)
                    .await?;
                Ok(())
            }
            Err(error) => {
                store::record_publish_failure(&self.db, event.id, &error.to_string())
                    .instrument(span)
                    .await?;
                Err(error.into())
            }
        }
    }
}
