//! What order-service does with `orders.fulfilled`: marks the order `fulfilled`.
//!
//! The second async hop: inventory-service publishes the event once it has sold an order's stock,
//! and each delivery here is a CONSUMER span `process orders.fulfilled` of the durable consumer
//! `order` ([`service_kit::events::Consumer`]), parented to inventory-service's PRODUCER span —
//! the order's trace goes on. Marking is idempotent; an order this service does not know
//! (announced by another tool) is logged and acknowledged.

use crate::store;
use contracts::{events::OrderFulfilled, order::OrderStatus};
use service_kit::events::{Handler, HandlerError};
use sqlx::SqlitePool;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The durable consumer's name, shared by every order-service replica.
pub const DURABLE: &str = "order";

/// Marks orders fulfilled.
pub(crate) struct MarkFulfilled {
    db: SqlitePool,
}

impl MarkFulfilled {
    pub(crate) fn new(db: SqlitePool) -> Self {
        Self { db }
    }
}

impl Handler<OrderFulfilled> for MarkFulfilled {
    async fn handle(&self, event: OrderFulfilled) -> Result<(), HandlerError> {
        let span = tracing::Span::current();
        span.set_attribute("order_id", event.order_id.clone());
        span.set_attribute("reservation_id", event.reservation_id.clone());
        let status = store::mark_fulfilled(&self.db, &event.order_id)
            .await
            .map_err(|error| HandlerError::new("store_error", error))?;
        match status {
            Some(OrderStatus::Fulfilled) => {
                tracing::info!(order_id = event.order_id, "order fulfilled")
            }
            Some(status) => {
                return Err(HandlerError::new(
                    "wrong_state",
                    format!("a {status} order cannot be fulfilled"),
                ));
            }
            None => tracing::warn!(
                order_id = event.order_id,
                "no such order here; nothing to mark"
            ),
        }
        Ok(())
    }
}
