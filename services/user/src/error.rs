//! The service's error type and how each variant answers over HTTP.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use contracts::auth::VerifyError;
use service_kit::{ApiError, ClientError};

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a profile request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// The token's subject is not the user asked about.
    #[error("Permission denied")]
    Forbidden,
    /// No such profile.
    #[error("User not found")]
    NotFound,
    /// auth-service did not answer usefully.
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
            VerifyError::Forbidden => Error::Forbidden,
            VerifyError::Upstream(error) => Error::Upstream(error),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Upstream(error) => {
                tracing::error!(error = %error, "downstream failure");
                return error.answer(crate::SERVICE_NAME).into_response();
            }
            Error::Database(error) => return ApiError::internal(error).into_response(),
        };
        ApiError::new(status, self.to_string()).into_response()
    }
}
