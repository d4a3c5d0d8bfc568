//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use service_kit::ApiError;

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an inventory request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(&'static str),
    /// No product with this SKU.
    #[error("unknown SKU {}", service_kit::excerpt(.0))]
    UnknownSku(String),
    /// No reservation with this id.
    #[error("reservation not found")]
    ReservationNotFound,
    /// Not enough stock for the reservation, or the order already holds one.
    #[error("{0}")]
    Conflict(String),
    /// The `Idempotency-Key` of an earlier reservation, sent with other lines.
    #[error("Idempotency-Key already used for a reservation of other lines")]
    KeyReused,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::UnknownSku(_) | Error::ReservationNotFound => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Database(error) => return ApiError::internal(error).into_response(),
        };
        ApiError::new(status, self.to_string()).into_response()
    }
}
