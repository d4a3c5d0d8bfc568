//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use service_kit::ApiError;

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a payment request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad card number, amount or currency).
    #[error("{0}")]
    BadRequest(&'static str),
    /// An amount above `PAYMENT_MAX_AMOUNT_CENTS`: the limit.
    #[error("the amount is above the limit of {0} cents")]
    TooLarge(i64),
    /// The processor refused the card.
    #[error("payment {payment_id} declined: {reason}")]
    Declined {
        /// The stored attempt.
        payment_id: String,
        /// `card_declined` or `insufficient_funds`.
        reason: &'static str,
    },
    /// The (fake) card processor failed.
    #[error("payment {payment_id}: the processor failed")]
    ProcessingError {
        /// The stored attempt.
        payment_id: String,
    },
    /// The order's payment was voided (its caller gave up on it) before this charge could be
    /// recorded: nothing is charged.
    #[error("payment voided")]
    Voided,
    /// A capture for an order whose payment was never approved: its status.
    #[error("payment {0}: nothing to capture")]
    NotCapturable(&'static str),
    /// The `Idempotency-Key` of an earlier charge, sent with another amount or currency.
    #[error("Idempotency-Key already used for a charge of another amount or currency")]
    KeyReused,
    /// A capture for an order with no payment.
    #[error("no payment for this order")]
    NoPayment,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::BadRequest(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
            Error::TooLarge(_) => ApiError::new(StatusCode::BAD_REQUEST, self.to_string()),
            Error::Declined { payment_id, reason } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment declined")
                    .with_reason(reason)
                    .with_payment_id(payment_id)
            }
            Error::ProcessingError { payment_id } => {
                tracing::error!(payment_id, "card processor failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "payment processing failed",
                )
                .with_reason("processing_error")
                .with_payment_id(payment_id)
            }
            Error::Voided => {
                ApiError::new(StatusCode::CONFLICT, "payment voided").with_reason("voided")
            }
            Error::NotCapturable(status) => ApiError::new(
                StatusCode::CONFLICT,
                "payment not approved: nothing to capture",
            )
            .with_reason(status),
            Error::KeyReused => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
                .with_reason("idempotency_key_reused"),
            Error::NoPayment => ApiError::new(StatusCode::NOT_FOUND, "no payment for this order"),
            Error::Database(error) => ApiError::internal(&error),
        }
        .into_response()
    }
}
