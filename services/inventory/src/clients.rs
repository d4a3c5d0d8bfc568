//! The order-service client: telling it an order's stock is sold.

use reqwest::{Method, StatusCode};
use service_kit::{ClientError, Downstream, client::path_segment};

/// Tells order-service about fulfilled orders.
#[derive(Debug, Clone)]
pub(crate) struct OrderClient {
    downstream: Downstream,
}

impl OrderClient {
    pub(crate) fn new(base_url: &str, timeout: std::time::Duration) -> Self {
        Self {
            downstream: Downstream::new("order-service", base_url, timeout),
        }
    }

    /// Marks the order fulfilled (idempotent on order-service's side). An order order-service does
    /// not know (an event published by another tool) has no one to tell: that is not an error.
    #[tracing::instrument(
        name = "order_client.mark_fulfilled",
        skip_all,
        fields(order_id = order_id, downstream_service = self.downstream.service())
    )]
    pub(crate) async fn mark_fulfilled(&self, order_id: &str) -> Result<(), ClientError> {
        let path = format!("/internal/orders/{}/fulfilled", path_segment(order_id));
        let request = self.downstream.request(Method::POST, &path);
        let response = self
            .downstream
            .send("/internal/orders/{id}/fulfilled", request)
            .await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(()),
            StatusCode::NOT_FOUND => {
                tracing::warn!("order-service does not know this order; nothing to mark");
                Ok(())
            }
            _ => Err(response.unexpected_status()),
        }
    }
}
