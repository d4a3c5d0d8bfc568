//! The auth-service client: access checks.

use crate::Error;
use reqwest::{Method, StatusCode};
use serde_json::json;
use service_kit::Downstream;

/// Asks auth-service whether a token may read a user's data.
#[derive(Debug, Clone)]
pub(crate) struct AuthClient {
    downstream: Downstream,
}

impl AuthClient {
    pub(crate) fn new(base_url: &str, timeout: std::time::Duration) -> Self {
        Self {
            downstream: Downstream::new("auth-service", base_url, timeout),
        }
    }

    /// Ok when the bearer `token` belongs to `user_id`; 401/403 from auth-service pass through.
    pub(crate) async fn verify_access(&self, token: &str, user_id: i64) -> Result<(), Error> {
        let request = self
            .downstream
            .request(Method::POST, "/api/verify")
            .bearer_auth(token)
            .json(&json!({ "user_id": user_id }));
        let response = self.downstream.send("/api/verify", request).await?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized(response.error_message().await)),
            StatusCode::FORBIDDEN => Err(Error::Forbidden),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
