//! The service's error type and how each variant answers over HTTP.

use axum::response::{IntoResponse, Response};
use service_kit::ClientError;

/// Result with this service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the gateway itself can fail with (upstream answers, errors included, pass through).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An upstream service timed out or could not be reached.
    #[error(transparent)]
    Upstream(#[from] ClientError),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let Error::Upstream(error) = &self;
        tracing::error!(error = %self, "upstream failure");
        error.answer(crate::SERVICE_NAME).into_response()
    }
}
