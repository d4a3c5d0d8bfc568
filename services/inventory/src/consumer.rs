//! What inventory-service does with `orders.created`: sells the order's held stock, once, and
//! announces it as `orders.fulfilled`.
//!
//! Each event is a CONSUMER span `process orders.created` of the durable consumer `inventory`
//! ([`service_kit::events::Consumer`]: parented to the context in the message headers, acked only
//! after the handler succeeded, dead-lettered after `CONSUMER_MAX_DELIVER` deliveries). Under it,
//! the stock moves from reserved to sold (its database calls, and `outcome` and `reservation_id`
//! on the CONSUMER span itself), and a PRODUCER span
//! `publish orders.fulfilled` hands the news on, the same trace going on to order-service. A
//! failed publish brings the event back: the sale is found done and the news sent again (the
//! stream drops a second copy by its message id).

use crate::store::{self, Commit};
use async_nats::jetstream;
use contracts::events::{OrderCreated, OrderFulfilled};
use service_kit::events::{self, Handler, HandlerError};
use sqlx::SqlitePool;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The durable consumer's name, shared by every inventory worker.
pub const DURABLE: &str = "inventory";

/// Sells the stock of confirmed orders.
pub(crate) struct SellStock {
    db: SqlitePool,
    jetstream: jetstream::Context,
}

impl SellStock {
    pub(crate) fn new(db: SqlitePool, jetstream: jetstream::Context) -> Self {
        Self { db, jetstream }
    }

    /// Sells the stock held for the order: idempotent, so a redelivery changes nothing twice.
    /// Returns the reservation sold.
    async fn sell_held_stock(&self, event: &OrderCreated) -> Result<String, crate::Error> {
        let (outcome, reservation_id) =
            store::commit_reservation(&self.db, &event.order_id, event.reservation_id.as_deref())
                .await?;
        let outcome = match outcome {
            Commit::Committed => "committed",
            Commit::CommittedAfterExpiry => "committed_after_expiry",
            Commit::AlreadyCommitted => "already_committed",
        };
        // On the CONSUMER span: one span per delivery.
        let span = Span::current();
        span.set_attribute("outcome", outcome);
        span.set_attribute("reservation_id", reservation_id.clone());
        tracing::info!(outcome, "stock moved from reserved to sold");
        Ok(reservation_id)
    }
}

impl Handler<OrderCreated> for SellStock {
    async fn handle(&self, event: OrderCreated) -> Result<(), HandlerError> {
        Span::current().set_attribute("order_id", event.order_id.clone());
        let reservation_id = self
            .sell_held_stock(&event)
            .await
            .map_err(|error| HandlerError::new("store_error", error))?;
        let fulfilled = OrderFulfilled {
            order_id: event.order_id,
            reservation_id,
        };
        events::publish(&self.jetstream, &fulfilled)
            .await
            .map_err(|error| {
                use async_nats::jetstream::context::PublishErrorKind::{MaxPayloadExceeded, Other};
                match error.kind() {
                    // The message itself cannot be stored: retrying will not change that.
                    MaxPayloadExceeded | Other => HandlerError::new("publish_failed", error),
                    // The broker timing out, failing over, or not having the stream yet.
                    _ => HandlerError::transient("publish_failed", error),
                }
            })
    }
}
