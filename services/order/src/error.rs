//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
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
    /// The order belongs to someone else.
    #[error("Permission denied")]
    Forbidden,
    /// No such order.
    #[error("Order not found")]
    NotFound,
    /// Not enough stock.
    #[error("{0}")]
    OutOfStock(String),
    /// The order is in a state that does not allow the change.
    #[error("{0}")]
    WrongState(String),
    /// The card was declined; the reservation has been released.
    #[error("payment declined")]
    PaymentDeclined {
        /// `card_declined`, `insufficient_funds`, ...
        reason: String,
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

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::InvalidOrder(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::OutOfStock(_) | Error::WrongState(_) => StatusCode::CONFLICT,
            Error::PaymentDeclined { reason, order_id } => {
                return ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment declined")
                    .with("reason", reason.as_str())
                    .with("order_id", order_id.as_str())
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
