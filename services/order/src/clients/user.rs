//! user-service: the customer's profile, for the receipt.

use crate::Error;
use opentelemetry::KeyValue;
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
    pub(crate) async fn profile(&self, user_id: i64) -> Result<Customer, Error> {
        let path = format!("/internal/users/{user_id}");
        let request = self.downstream.request(Method::GET, &path);
        let response = self
            .downstream
            .send_with(
                "/internal/users/{id}",
                request,
                vec![KeyValue::new("user_id", user_id)],
            )
            .await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
