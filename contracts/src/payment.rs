//! payment-service: charging cards, and voiding a charge.

use opentelemetry::KeyValue;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use service_kit::{
    ClientError, Downstream,
    client::{IDEMPOTENCY_KEY, path_segment},
};
use std::{fmt, str::FromStr};

/// payment-service's `service.name`.
pub const SERVICE_NAME: &str = "payment-service";

/// `POST /api/payments`: the amount in cents (`amount_cents`) or as a decimal (`amount`).
/// Deliberately not `Debug`: it holds the full card number.
#[derive(Serialize, Deserialize)]
pub struct PaymentRequest {
    /// The order paid for (one payment per order).
    pub order_id: String,
    /// The amount as a decimal, read when `amount_cents` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// The amount in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// ISO 4217.
    pub currency: String,
    /// The card; only its last four digits are ever stored, logged or traced.
    pub card_number: String,
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Charged.
    Approved,
    /// Refused by the processor.
    Declined,
    /// The processor failed.
    Failed,
    /// Given back, or refused before it was recorded: nothing is charged.
    Voided,
}

impl PaymentStatus {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Voided => "voided",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "approved" => Ok(Self::Approved),
            "declined" => Ok(Self::Declined),
            "failed" => Ok(Self::Failed),
            "voided" => Ok(Self::Voided),
            other => Err(format!("no payment status {other:?}")),
        }
    }
}

/// An approved charge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentResponse {
    /// The payment.
    pub payment_id: String,
    /// `approved`.
    pub status: PaymentStatus,
}

/// `POST /internal/payments/{order_id}/void`'s answer: the status the order's payment ends with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoidResponse {
    /// The order.
    pub order_id: String,
    /// `voided`, or what the payment already was.
    pub status: PaymentStatus,
}

/// `POST /internal/payments/{order_id}/capture`'s answer: the charge is kept for the order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureResponse {
    /// The order.
    pub order_id: String,
    /// The captured payment.
    pub payment_id: String,
    /// `approved`.
    pub status: PaymentStatus,
}

/// Why a capture did not keep the charge.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The charge was voided — given back after waiting past payment-service's capture window,
    /// or by a void — so the order must not be confirmed (409 `reason: voided`).
    #[error("the payment was voided before it was captured")]
    Voided,
    /// payment-service did not answer usefully (no approved charge to capture is a 404 or 409
    /// here: the order's own charge was approved, so that is outside the contract).
    #[error(transparent)]
    Upstream(#[from] ClientError),
}

/// What a charge needs. Deliberately not `Debug`: it holds the full card number.
pub struct Charge<'a> {
    /// The order paid for.
    pub order_id: &'a str,
    /// The amount in cents.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: &'a str,
    /// The card.
    pub card_number: &'a str,
}

/// Why a charge did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    /// The card was declined (402): `card_declined`, `insufficient_funds`, ...
    #[error("payment declined: {reason}")]
    Declined {
        /// The processor's reason.
        reason: String,
    },
    /// The card or currency was malformed (400): payment-service's message.
    #[error("{0}")]
    Invalid(String),
    /// payment-service did not answer usefully (a processing error is a 500 here).
    #[error(transparent)]
    Upstream(#[from] ClientError),
}

/// Charges cards through payment-service.
#[derive(Debug, Clone)]
pub struct PaymentClient {
    downstream: Downstream,
}

impl PaymentClient {
    /// The client over `downstream`.
    pub fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced connection to the service.
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Charges the card, with the `Idempotency-Key` `{order_id}:charge`: a repeat is answered as
    /// the first charge was, so the call is resent when its connection closes before the answer.
    /// A decline is a `payment_declined` event on the CLIENT span, and a
    /// processor failure a `payment_error` event, each with its reason.
    pub async fn charge(&self, charge: &Charge<'_>) -> Result<PaymentResponse, ChargeError> {
        let body = PaymentRequest {
            order_id: charge.order_id.to_owned(),
            amount: None,
            amount_cents: Some(charge.amount_cents),
            currency: charge.currency.to_owned(),
            card_number: charge.card_number.to_owned(),
        };
        let key = format!("{}:charge", charge.order_id);
        let request = || {
            self.downstream
                .request(Method::POST, "/api/payments")
                .header(IDEMPOTENCY_KEY, &key)
                .json(&body)
        };
        let attributes = [
            KeyValue::new("order_id", charge.order_id.to_owned()),
            KeyValue::new("amount", crate::money::decimal(charge.amount_cents)),
            KeyValue::new("amount_cents", charge.amount_cents),
            KeyValue::new("currency", charge.currency.to_owned()),
        ];
        let response = self
            .downstream
            .send_with("/api/payments", request, &attributes)
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::PAYMENT_REQUIRED => {
                let span = response.span().clone();
                let declined = response.error_body().await;
                let reason = declined
                    .reason
                    .unwrap_or_else(|| "card_declined".to_owned());
                span.in_scope(|| {
                    tracing::warn!(
                        reason = reason.as_str(),
                        payment_id = declined.payment_id.as_deref(),
                        "payment_declined"
                    );
                });
                Err(ChargeError::Declined { reason })
            }
            StatusCode::BAD_REQUEST => {
                let message = response.error_message().await;
                Err(ChargeError::Invalid(format!("payment: {message}")))
            }
            status => {
                let unexpected = response.unexpected_status();
                if status.is_server_error() {
                    let span = response.span().clone();
                    let body = response.error_body().await;
                    span.in_scope(|| {
                        tracing::error!(
                            http.response.status_code = i64::from(status.as_u16()),
                            reason = body.reason.as_deref(),
                            "payment_error"
                        );
                    });
                }
                Err(unexpected.into())
            }
        }
    }

    /// Captures the order's approved charge as the order is confirmed. A charge that waited past
    /// payment-service's capture window is voided there instead: [`CaptureError::Voided`], and a
    /// `payment_voided` event on the CLIENT span. One attempt.
    pub async fn capture(&self, order_id: &str) -> Result<CaptureResponse, CaptureError> {
        let path = format!("/internal/payments/{}/capture", path_segment(order_id));
        let key = format!("{order_id}:capture");
        let request = || {
            self.downstream
                .request(Method::POST, &path)
                .header(IDEMPOTENCY_KEY, &key)
        };
        let attributes = [KeyValue::new("order_id", order_id.to_owned())];
        let response = self
            .downstream
            .send_with(
                "/internal/payments/{order_id}/capture",
                request,
                &attributes,
            )
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::CONFLICT => {
                let (span, unexpected) = (response.span().clone(), response.unexpected_status());
                let refused = response.error_body().await;
                if refused.reason.as_deref() != Some("voided") {
                    return Err(unexpected.into());
                }
                span.in_scope(|| tracing::warn!(order_id, "payment_voided"));
                Err(CaptureError::Voided)
            }
            _ => Err(response.unexpected_status().into()),
        }
    }

    /// Voids the order's payment, for a charge whose outcome is unknown: an approval that
    /// happened is given back, one still on its way can no longer be recorded. Returns the
    /// status the payment ends with. One attempt: the caller retries.
    pub async fn void(&self, order_id: &str) -> Result<PaymentStatus, ClientError> {
        let path = format!("/internal/payments/{}/void", path_segment(order_id));
        let key = format!("{order_id}:void");
        let request = || {
            self.downstream
                .request(Method::POST, &path)
                .header(IDEMPOTENCY_KEY, &key)
        };
        let response = self
            .downstream
            .send("/internal/payments/{order_id}/void", request)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(response.unexpected_status());
        }
        Ok(response.json::<VoidResponse>().await?.status)
    }
}
