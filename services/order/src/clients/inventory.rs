//! inventory-service: holding and releasing stock.

use crate::{Error, routes::Item};
use opentelemetry::KeyValue;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use service_kit::{Downstream, client::path_segment};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Reserves and releases stock through inventory-service.
#[derive(Debug, Clone)]
pub(crate) struct InventoryClient {
    downstream: Downstream,
}

/// Stock held for an order, priced by the catalogue.
#[derive(Debug, Deserialize)]
pub(crate) struct Reservation {
    pub(crate) reservation_id: String,
    pub(crate) total_cents: i64,
}

impl InventoryClient {
    pub(crate) fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced, circuit-broken connection to the service.
    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Holds `items` for `order_id`. 409 (short) and 400/404 (bad SKU) pass through.
    pub(crate) async fn reserve(
        &self,
        order_id: &str,
        items: &[Item],
    ) -> Result<Reservation, Error> {
        let request = self
            .downstream
            .request(Method::POST, "/api/reservations")
            .json(&json!({ "order_id": order_id, "items": items }));
        let order = vec![KeyValue::new("order_id", order_id.to_owned())];
        let response = self
            .downstream
            .send_with("/api/reservations", request, order)
            .await?;
        match response.status() {
            StatusCode::CREATED => {
                let span = response.span().clone();
                let reservation: Reservation = response.json().await?;
                span.set_attribute("reservation_id", reservation.reservation_id.clone());
                Ok(reservation)
            }
            StatusCode::CONFLICT => Err(Error::OutOfStock(response.error_message().await)),
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => {
                Err(Error::InvalidOrder(response.error_message().await))
            }
            _ => Err(response.unexpected_status().into()),
        }
    }

    /// Releases whatever the order holds, for a reserve call whose answer never came: held
    /// stock goes back on sale, and a reserve still on its way is refused. Returns the outcome
    /// (`released`, `already_released`, `committed`). One attempt; [`crate::compensation`]
    /// retries it.
    pub(crate) async fn release_for_order(&self, order_id: &str) -> Result<String, Error> {
        let path = format!(
            "/internal/orders/{}/reservation/release",
            path_segment(order_id)
        );
        let template = "/internal/orders/{order_id}/reservation/release";
        super::post_for_status(&self.downstream, template, &path).await
    }

    /// Gives the stock of a reservation back. Best effort: a failure is logged on the span (the
    /// reservation then stays held until someone releases it), never turned into the caller's error.
    pub(crate) async fn release(&self, reservation_id: &str) {
        let path = format!("/api/reservations/{}", path_segment(reservation_id));
        let request = self.downstream.request(Method::DELETE, &path);
        match self
            .downstream
            .send_with(
                "/api/reservations/{id}",
                request,
                vec![KeyValue::new("reservation_id", reservation_id.to_owned())],
            )
            .await
        {
            Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                tracing::info!("reservation released");
            }
            Ok(response) => {
                tracing::error!(status = %response.status(), "reservation not released")
            }
            Err(error) => tracing::error!(error = %error, "reservation not released"),
        }
    }
}
