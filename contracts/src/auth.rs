//! auth-service: logins and token verification.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use service_kit::{ClientError, Downstream};
use utoipa::ToSchema;

/// auth-service's `service.name`.
pub const SERVICE_NAME: &str = "auth-service";

/// `POST /api/login`. Deliberately not `Debug`: it holds a password.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// A seeded user's name.
    #[schema(example = "alice")]
    pub username: String,
    /// Their password.
    #[schema(example = "alice123")]
    pub password: String,
}

/// A token for the `Authorization: Bearer` header. Deliberately not `Debug`: it holds the token.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// A JWT (HS256).
    pub token: String,
    /// Whose it is.
    pub user_id: i64,
}

/// `POST /api/verify`'s optional body: the user the token must belong to.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// Refuse (403) a token whose subject is someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// Whom a verified token belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    /// The token's subject.
    pub user_id: i64,
    /// Their name.
    pub username: String,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No valid token (401): the message auth-service gave.
    #[error("{0}")]
    Unauthorized(String),
    /// The token belongs to someone else (403).
    #[error("Permission denied")]
    Forbidden,
    /// auth-service did not answer usefully.
    #[error(transparent)]
    Upstream(#[from] ClientError),
}

/// Verifies bearer tokens through auth-service.
#[derive(Debug, Clone)]
pub struct AuthClient {
    downstream: Downstream,
}

impl AuthClient {
    /// The client over `downstream`.
    pub fn new(downstream: Downstream) -> Self {
        Self { downstream }
    }

    /// The traced connection to the service.
    pub fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    /// Whom the bearer `token` belongs to.
    pub async fn verify(&self, token: &str) -> Result<Identity, VerifyError> {
        self.verify_request(token, None).await
    }

    /// [`Self::verify`], refusing a token that does not belong to `user_id`.
    pub async fn verify_access(&self, token: &str, user_id: i64) -> Result<Identity, VerifyError> {
        self.verify_request(token, Some(user_id)).await
    }

    async fn verify_request(
        &self,
        token: &str,
        user_id: Option<i64>,
    ) -> Result<Identity, VerifyError> {
        let request = || {
            let request = self
                .downstream
                .request(Method::POST, "/api/verify")
                .bearer_auth(token);
            match user_id {
                Some(user_id) => request.json(&VerifyRequest {
                    user_id: Some(user_id),
                }),
                None => request,
            }
        };
        let response = self.downstream.send("/api/verify", request).await?;
        if response.refused_caller() {
            // auth-service refused this service, not the user's token.
            return Err(response.unexpected_status().into());
        }
        match response.status() {
            StatusCode::OK => Ok(response.json().await?),
            StatusCode::UNAUTHORIZED => {
                Err(VerifyError::Unauthorized(response.error_message().await))
            }
            StatusCode::FORBIDDEN => Err(VerifyError::Forbidden),
            _ => Err(response.unexpected_status().into()),
        }
    }
}
