//! auth-service: who is calling.

use crate::Error;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use service_kit::Downstream;

/// Resolves a bearer token to a user through auth-service.
#[derive(Debug, Clone)]
pub(crate) struct AuthClient {
    downstream: Downstream,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Identity {
    pub(crate) user_id: i64,
}

impl AuthClient {
    pub(crate) fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced, circuit-broken connection to the service.
    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// The user the bearer `token` belongs to; 401 from auth-service passes through.
    pub(crate) async fn verify(&self, token: &str) -> Result<Identity, Error> {
        let request = self
            .downstream
            .request(Method::POST, "/api/verify")
            .bearer_auth(token);
        let response = self.downstream.send("/api/verify", request).await?;
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized(response.error_message().await)),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
