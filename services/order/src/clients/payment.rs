//! payment-service: charging the card.

use crate::Error;
use opentelemetry::KeyValue;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use service_kit::Downstream;

/// Charges cards through payment-service.
#[derive(Debug, Clone)]
pub(crate) struct PaymentClient {
    downstream: Downstream,
}

/// What a charge needs. Deliberately not `Debug`: it holds the full card number.
pub(crate) struct Charge<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) amount_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) card_number: &'a str,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Payment {
    pub(crate) payment_id: String,
}

#[derive(Debug, Deserialize)]
struct Declined {
    reason: String,
    payment_id: Option<String>,
}

impl PaymentClient {
    pub(crate) fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced, circuit-broken connection to the service.
    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Charges the card. A decline becomes `Error::PaymentDeclined` and a `payment_declined`
    /// event, with the reason, on the CLIENT span of the call.
    pub(crate) async fn process(&self, charge: &Charge<'_>) -> Result<Payment, Error> {
        let request = self
            .downstream
            .request(Method::POST, "/api/payments")
            .json(&json!({
                "order_id": charge.order_id,
                "amount_cents": charge.amount_cents,
                "currency": charge.currency,
                "card_number": charge.card_number,
            }));
        let attributes = vec![
            KeyValue::new("order_id", charge.order_id.to_owned()),
            KeyValue::new("amount", crate::to_amount(charge.amount_cents)),
            KeyValue::new("amount_cents", charge.amount_cents),
            KeyValue::new("currency", charge.currency.to_owned()),
        ];
        let response = self
            .downstream
            .send_with("/api/payments", request, attributes)
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::PAYMENT_REQUIRED => {
                let span = response.span().clone();
                let declined: Declined = response.json().await?;
                span.in_scope(|| {
                    tracing::warn!(
                        reason = declined.reason.as_str(),
                        payment_id = declined.payment_id.as_deref(),
                        "payment_declined"
                    );
                });
                Err(Error::PaymentDeclined {
                    reason: declined.reason,
                    order_id: charge.order_id.to_owned(),
                })
            }
            // The card or currency was malformed: the customer's input, answered as such.
            StatusCode::BAD_REQUEST => {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let message = body["error"].as_str().unwrap_or("invalid payment details");
                Err(Error::InvalidOrder(format!("payment: {message}")))
            }
            status => {
                let unexpected = response.unexpected_status();
                if status.is_server_error() {
                    let span = response.span().clone();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    span.in_scope(|| {
                        tracing::error!(
                            http.response.status_code = i64::from(status.as_u16()),
                            reason = body["reason"].as_str(),
                            "payment_error"
                        );
                    });
                }
                Err(unexpected.into())
            }
        }
    }

    /// Voids the order's payment, for a charge whose outcome is unknown: an approval that
    /// happened is given back, one still on its way can no longer be recorded. Returns the
    /// status the payment ends with. One attempt; [`crate::compensation`] retries it.
    pub(crate) async fn void(&self, order_id: &str) -> Result<String, Error> {
        let path = format!(
            "/internal/payments/{}/void",
            service_kit::client::path_segment(order_id)
        );
        super::post_for_status(
            &self.downstream,
            "/internal/payments/{order_id}/void",
            &path,
        )
        .await
    }
}
