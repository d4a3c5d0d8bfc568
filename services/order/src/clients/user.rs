//! user-service: the customer's profile, for the receipt.

use crate::Error;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use service_kit::Downstream;

/// Reads customer profiles through user-service, for callers auth-service has verified.
#[derive(Debug, Clone)]
pub(crate) struct UserClient {
    downstream: Downstream,
}

/// The part of a profile an order needs.
#[derive(Debug, Deserialize)]
pub(crate) struct Customer {
    pub(crate) email: String,
}

impl UserClient {
    pub(crate) fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced, circuit-broken connection to the service.
    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// The profile of `user_id`, whose token this service has verified: read from user-service's
    /// internal route, so the token is not verified a second time.
    #[tracing::instrument(
        name = "user_client.profile",
        skip_all,
        fields(user_id = user_id, downstream_service = self.downstream.service())
    )]
    pub(crate) async fn profile(&self, user_id: i64) -> Result<Customer, Error> {
        let path = format!("/internal/users/{user_id}");
        let request = self.downstream.request(Method::GET, &path);
        let response = self
            .downstream
            .send("/internal/users/{id}", request)
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
