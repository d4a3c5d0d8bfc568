//! inventory-service: the catalogue, stock levels and reservations.

use crate::order::Line;
use opentelemetry::KeyValue;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use service_kit::{
    ClientError, Downstream,
    client::{IDEMPOTENCY_KEY, path_segment},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use utoipa::ToSchema;

/// inventory-service's `service.name`.
pub const SERVICE_NAME: &str = "inventory-service";

/// A product's stock (`GET /api/stock/{sku}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stock {
    /// The product.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its price, as a decimal amount.
    pub price: f64,
    /// The same in cents.
    pub price_cents: i64,
    /// On sale now.
    pub available: i64,
    /// Held for orders not yet confirmed.
    pub reserved: i64,
    /// Sold.
    pub sold: i64,
}

/// `POST /api/reservations`: hold stock for an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReservationRequest {
    /// The order the stock is held for (one reservation per order).
    pub order_id: String,
    /// What to hold.
    pub items: Vec<Line>,
}

/// Stock held for an order, priced by the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    /// The reservation.
    pub reservation_id: String,
    /// What the held stock costs, as a decimal amount.
    pub total: f64,
    /// The same in cents.
    pub total_cents: i64,
}

/// What releasing an order's stock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// Held stock went back on sale.
    Released,
    /// Nothing was held (any more); none can be held for the order later.
    AlreadyReleased,
    /// The stock is sold: the order went through.
    Committed,
}

impl ReleaseOutcome {
    /// The name sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::AlreadyReleased => "already_released",
            Self::Committed => "committed",
        }
    }
}

/// `POST /internal/orders/{order_id}/reservation/release`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRelease {
    /// The order.
    pub order_id: String,
    /// What happened to its stock.
    pub status: ReleaseOutcome,
}

/// Why stock could not be held.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    /// Not enough stock (409): inventory-service's message.
    #[error("{0}")]
    OutOfStock(String),
    /// A malformed line or an unknown SKU (400, 404): inventory-service's message.
    #[error("{0}")]
    Invalid(String),
    /// inventory-service did not answer usefully.
    #[error(transparent)]
    Upstream(#[from] ClientError),
}

/// Holds and releases stock through inventory-service.
#[derive(Debug, Clone)]
pub struct InventoryClient {
    downstream: Downstream,
}

impl InventoryClient {
    /// The client over `downstream`.
    pub fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced connection to the service.
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Holds `items` for `order_id`; the reservation's id goes on the CLIENT span. Sent with the
    /// `Idempotency-Key` `{order_id}:reserve`: a repeat is answered with the first reservation,
    /// so the call is resent when its connection closes before the answer.
    pub async fn reserve(
        &self,
        order_id: &str,
        items: &[Line],
    ) -> Result<Reservation, ReserveError> {
        let body = ReservationRequest {
            order_id: order_id.to_owned(),
            items: items.to_vec(),
        };
        let key = format!("{order_id}:reserve");
        let request = || {
            self.downstream
                .request(Method::POST, "/api/reservations")
                .header(IDEMPOTENCY_KEY, &key)
                .json(&body)
        };
        let attributes = [KeyValue::new("order_id", order_id.to_owned())];
        let response = self
            .downstream
            .send_with("/api/reservations", request, &attributes)
            .await?;
        match response.status() {
            StatusCode::CREATED => {
                let span = response.span().clone();
                let reservation: Reservation = response.json().await?;
                span.set_attribute("reservation_id", reservation.reservation_id.clone());
                Ok(reservation)
            }
            StatusCode::CONFLICT => Err(ReserveError::OutOfStock(response.error_message().await)),
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
                Err(ReserveError::Invalid(response.error_message().await))
            }
            _ => Err(response.unexpected_status().into()),
        }
    }

    /// Releases whatever the order holds, for a reserve call whose answer never came: held stock
    /// goes back on sale, and a reserve still on its way is refused. One attempt: the caller
    /// retries.
    pub async fn release_for_order(&self, order_id: &str) -> Result<ReleaseOutcome, ClientError> {
        let path = format!(
            "/internal/orders/{}/reservation/release",
            path_segment(order_id)
        );
        let key = format!("{order_id}:release");
        let request = || {
            self.downstream
                .request(Method::POST, &path)
                .header(IDEMPOTENCY_KEY, &key)
        };
        let response = self
            .downstream
            .send("/internal/orders/{order_id}/reservation/release", request)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(response.unexpected_status());
        }
        Ok(response.json::<OrderRelease>().await?.status)
    }

    /// Gives the stock of a reservation back. A failure is logged on the span, never the
    /// caller's error: `false` tells the caller that the stock may still be held (it is released
    /// by order id later, or expires).
    pub async fn release(&self, reservation_id: &str) -> bool {
        let path = format!("/api/reservations/{}", path_segment(reservation_id));
        let request = || self.downstream.request(Method::DELETE, &path);
        let attributes = [KeyValue::new("reservation_id", reservation_id.to_owned())];
        match self
            .downstream
            .send_with("/api/reservations/{id}", request, &attributes)
            .await
        {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                tracing::info!("reservation released");
                true
            }
            Ok(response) => {
                tracing::error!(status = %response.status(), "reservation not released");
                false
            }
            Err(error) => {
                tracing::error!(error = %error, "reservation not released");
                false
            }
        }
    }
}
