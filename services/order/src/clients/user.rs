//! user-service: the customer's profile, for the receipt.

use crate::Error;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use shared_tracing::Downstream;

/// Reads customer profiles through user-service, with the customer's own token.
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

    /// The profile of `user_id`, read with the caller's `authorization`.
    #[tracing::instrument(
        name = "user_client.profile",
        skip_all,
        fields(user_id = user_id, downstream_service = self.downstream.service())
    )]
    pub(crate) async fn profile(
        &self,
        authorization: &str,
        user_id: i64,
    ) -> Result<Customer, Error> {
        let path = format!("/api/users/{user_id}");
        let request = self
            .downstream
            .request(Method::GET, &path)
            .header(reqwest::header::AUTHORIZATION, authorization);
        let response = self.downstream.send("/api/users/{id}", request).await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized(response.error_message().await)),
            StatusCode::FORBIDDEN => Err(Error::Forbidden),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
