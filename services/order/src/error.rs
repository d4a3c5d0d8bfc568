//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use contracts::{auth::VerifyError, inventory::ReserveError};
use service_kit::{ApiError, ClientError};

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an order request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed, or names an unknown SKU.
    #[error("{0}")]
    InvalidOrder(String),
    /// No valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// No such order (or someone else's).
    #[error("Order not found")]
    NotFound,
    /// Not enough stock.
    #[error("{0}")]
    OutOfStock(String),
    /// The card was declined; the reservation has been released.
    #[error("payment declined")]
    PaymentDeclined {
        /// `card_declined`, `insufficient_funds`, ...
        reason: String,
        /// The order that was not placed.
        order_id: String,
    },
    /// The charge was voided before the order could be confirmed (it waited past payment-service's
    /// capture window); the stock is released, nothing is charged.
    #[error("the payment was voided before the order was confirmed")]
    PaymentVoided {
        /// The order that was not placed.
        order_id: String,
    },
    /// A downstream service timed out, could not be reached or answered outside its contract.
    #[error(transparent)]
    Upstream(#[from] ClientError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<VerifyError> for Error {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Unauthorized(message) => Error::Unauthorized(message),
            // Only asked for with a user id, which this service never sends.
            VerifyError::Forbidden => Error::Unauthorized("Permission denied".into()),
            VerifyError::Upstream(error) => Error::Upstream(error),
        }
    }
}

impl From<ReserveError> for Error {
    fn from(error: ReserveError) -> Self {
        match error {
            ReserveError::OutOfStock(message) => Error::OutOfStock(message),
            ReserveError::Invalid(message) => Error::InvalidOrder(message),
            ReserveError::Upstream(error) => Error::Upstream(error),
        }
    }
}

impl Error {
    /// Whether the call that failed may have taken effect although no answer came (see
    /// [`ClientError::outcome_unknown`]).
    pub(crate) fn outcome_unknown(&self) -> bool {
        matches!(self, Error::Upstream(error) if error.outcome_unknown())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::InvalidOrder(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::OutOfStock(_) => StatusCode::CONFLICT,
            Error::PaymentDeclined { reason, order_id } => {
                return ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment declined")
                    .with_reason(reason.as_str())
                    .with_order_id(order_id.as_str())
                    .into_response();
            }
            Error::PaymentVoided { order_id } => {
                return ApiError::new(StatusCode::CONFLICT, self.to_string())
                    .with_reason("payment_voided")
                    .with_order_id(order_id.as_str())
                    .into_response();
            }
            Error::Upstream(error) => {
                tracing::error!(error = %error, "downstream failure");
                return error.answer(crate::SERVICE_NAME).into_response();
            }
            Error::Database(error) => return ApiError::internal(error).into_response(),
        };
        ApiError::new(status, self.to_string()).into_response()
    }
}
