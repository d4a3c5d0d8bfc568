//! user-service: customer profiles.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use service_kit::{ClientError, Downstream};
use utoipa::ToSchema;

/// user-service's `service.name`.
pub const SERVICE_NAME: &str = "user-service";

/// A customer's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = User)]
pub struct Profile {
    /// The user.
    pub id: i64,
    /// Their login name.
    pub username: String,
    /// Where receipts go.
    pub email: String,
    /// Their name.
    pub full_name: String,
}

/// Reads profiles through user-service's internal route, for callers that have verified the
/// customer already.
#[derive(Debug, Clone)]
pub struct UserClient {
    downstream: Downstream,
}

impl UserClient {
    /// The client over `downstream`.
    pub fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced connection to the service.
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// The profile of `user_id`, whose token the caller has verified: the token is not verified
    /// a second time.
    pub async fn profile(&self, user_id: i64) -> Result<Profile, ClientError> {
        let path = format!("/internal/users/{user_id}");
        let request = || self.downstream.request(Method::GET, &path);
        let attributes = [opentelemetry::KeyValue::new("user_id", user_id)];
        let response = self
            .downstream
            .send_with("/internal/users/{id}", request, &attributes)
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            _ => Err(response.unexpected_status()),
        }
    }
}
