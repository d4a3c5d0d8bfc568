//! payment-service: charging the card.

use crate::Error;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use shared_tracing::Downstream;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Charges cards through payment-service.
#[derive(Debug, Clone)]
pub(crate) struct PaymentClient {
    downstream: Downstream,
}

/// What a charge needs. Deliberately not `Debug`: it holds the full card number.
pub(crate) struct Charge<'a> {
    pub(crate) order_id: &'a str,
    pub(crate) amount: f64,
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
    #[tracing::instrument(
        name = "payment_client.process",
        skip_all,
        fields(
            order_id = charge.order_id,
            amount = charge.amount,
            currency = charge.currency,
            downstream_service = self.downstream.service(),
        )
    )]
    pub(crate) async fn process(&self, charge: &Charge<'_>) -> Result<Payment, Error> {
        let request = self
            .downstream
            .request(Method::POST, "/api/payments")
            .json(&json!({
                "order_id": charge.order_id,
                "amount": charge.amount,
                "currency": charge.currency,
                "card_number": charge.card_number,
            }));
        let response = self.downstream.send("/api/payments", request).await?;
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

    /// Voids the order's payment, for a charge whose outcome is unknown (the call timed out or
    /// broke after it was sent): an approval that happened is given back, one still on its way
    /// can no longer be recorded. Retried with backoff until payment-service answers (ten
    /// attempts, about 40 s). Each attempt is a span of its own under `parent` (the order
    /// request's context), so each is exported as soon as it ends.
    pub(crate) async fn void_until_known(&self, order_id: &str, parent: opentelemetry::Context) {
        let mut backoff = std::time::Duration::from_millis(200);
        for attempt in 1..=VOID_ATTEMPTS {
            let span = tracing::info_span!(
                "payment_client.void",
                order_id,
                attempt,
                payment.status = tracing::field::Empty,
            );
            let _ = span.set_parent(parent.clone());
            match self.void_once(order_id).instrument(span.clone()).await {
                Ok(status) => {
                    span.record("payment.status", status.as_str());
                    span.in_scope(|| tracing::warn!(order_id, status, "payment_voided"));
                    return;
                }
                Err(error) => span.in_scope(|| {
                    tracing::warn!(%error, attempt, retry_in_ms = backoff.as_millis() as u64, "void failed")
                }),
            }
            // The attempt's span ends here, not after the wait: it is exported with its children.
            drop(span);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
        }
        tracing::error!(order_id, "payment outcome unknown: no void got through");
    }

    async fn void_once(&self, order_id: &str) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Voided {
            status: String,
        }
        let path = format!(
            "/internal/payments/{}/void",
            shared_tracing::client::path_segment(order_id)
        );
        let request = self.downstream.request(Method::POST, &path);
        let response = self
            .downstream
            .send("/internal/payments/{order_id}/void", request)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(response.unexpected_status().into());
        }
        Ok(response.json::<Voided>().await?.status)
    }
}

/// Void attempts before giving up (about 40 s with the backoff).
const VOID_ATTEMPTS: u32 = 10;
