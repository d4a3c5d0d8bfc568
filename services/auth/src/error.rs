//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use service_kit::ApiError;

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an auth request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(&'static str),
    /// Unknown user or wrong password (deliberately indistinguishable).
    #[error("invalid username or password")]
    InvalidCredentials,
    /// No bearer token, or one that does not verify.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token is valid but its subject is not the user asked about.
    #[error("Permission denied")]
    Forbidden,
    /// Too many login attempts: retry after this long.
    #[error("too many login attempts; retry later")]
    Throttled(std::time::Duration),
    /// Hashing or signing failed.
    #[error("{0}")]
    Internal(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::InvalidCredentials | Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::Throttled(retry_after) => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let mut response =
                    ApiError::new(StatusCode::TOO_MANY_REQUESTS, self.to_string()).into_response();
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(seconds));
                return response;
            }
            Error::Internal(cause) => return ApiError::internal(cause).into_response(),
            Error::Database(error) => return ApiError::internal(error).into_response(),
        };
        ApiError::new(status, self.to_string()).into_response()
    }
}
