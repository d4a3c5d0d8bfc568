//! Why a downstream call produced no usable answer, and how a service answers its own caller
//! then: a 502/503/504 with an RFC 9209 `Proxy-Status` header that names the downstream, so the
//! caller's breaker does not blame the service that relayed the failure.

use http::{HeaderName, HeaderValue};
use shared_tracing::http_client;

/// Why a downstream call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer within the client's timeout.
    #[error("{service} did not answer in time")]
    Timeout {
        /// The downstream service.
        service: &'static str,
    },
    /// Connection refused or reset, DNS failure, broken request. The message names only the
    /// service (it may reach a caller); the cause is on the span's `exception` event.
    #[error("{service} is unreachable")]
    Unavailable {
        /// The downstream service.
        service: &'static str,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The circuit breaker refused the call without sending it.
    #[error("{service} unavailable (circuit open)")]
    CircuitOpen {
        /// The downstream service.
        service: &'static str,
    },
    /// The service answered with a status its contract does not allow.
    #[error("{service} answered {status}")]
    UnexpectedStatus {
        /// The downstream service.
        service: &'static str,
        /// What it answered.
        status: http::StatusCode,
    },
    /// The body was not what the contract promises.
    #[error("{service} sent an invalid response")]
    InvalidResponse {
        /// The downstream service.
        service: &'static str,
        /// The decoding error.
        source: reqwest::Error,
    },
}

/// The RFC 9209 header a service adds to an answer it gives because a downstream failed.
pub const PROXY_STATUS: HeaderName = HeaderName::from_static("proxy-status");

impl ClientError {
    pub(crate) fn from_reqwest(service: &'static str, source: reqwest::Error) -> Self {
        if source.is_timeout() {
            Self::Timeout { service }
        } else {
            Self::Unavailable { service, source }
        }
    }

    /// What a service answers its own caller when this failure stops it: 504 for a timeout, 503
    /// for an open circuit, 502 for an unreachable downstream or an invalid answer.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Timeout { .. } => http::StatusCode::GATEWAY_TIMEOUT,
            Self::CircuitOpen { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable { .. }
            | Self::UnexpectedStatus { .. }
            | Self::InvalidResponse { .. } => http::StatusCode::BAD_GATEWAY,
        }
    }

    /// The answer a service gives its own caller when this failure stops it: [`Self::status`],
    /// the message, and a `Proxy-Status` header (RFC 9209) naming `via` (the service answering)
    /// and the downstream it could not get a usable answer from. The header is what tells the
    /// caller's circuit breaker that `via` itself is up: see [`counts_as_outage`].
    pub fn answer(&self, via: &'static str) -> crate::ApiError {
        crate::ApiError::new(self.status(), self.to_string())
            .with_header(PROXY_STATUS, self.proxy_status(via))
    }

    /// `via; next-hop=<service>` and the RFC 9209 error type (or the status received).
    fn proxy_status(&self, via: &'static str) -> HeaderValue {
        let detail = match self {
            Self::Timeout { .. } => "error=http_response_timeout".to_owned(),
            Self::Unavailable { source, .. } if source.is_connect() => {
                "error=connection_refused".to_owned()
            }
            Self::Unavailable { .. } => "error=connection_terminated".to_owned(),
            Self::CircuitOpen { .. } => "error=destination_unavailable".to_owned(),
            Self::UnexpectedStatus { status, .. } => format!("received-status={}", status.as_u16()),
            Self::InvalidResponse { .. } => "error=http_protocol_error".to_owned(),
        };
        // Service names are tokens (`payment-service`): always a valid header value.
        HeaderValue::from_str(&format!("{via}; next-hop={}; {detail}", self.service()))
            .expect("service names are header-safe")
    }

    /// The downstream service the call went to.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Timeout { service }
            | Self::Unavailable { service, .. }
            | Self::CircuitOpen { service }
            | Self::UnexpectedStatus { service, .. }
            | Self::InvalidResponse { service, .. } => service,
        }
    }

    /// A low-cardinality name for `error.type` and `exception.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::Unavailable { source, .. } => http_client::transport_error_type(source),
            Self::CircuitOpen { .. } => "circuit_open",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::InvalidResponse { .. } => "invalid_response",
        }
    }

    /// Whether the call may have taken effect although no answer came: it timed out, or the
    /// connection broke after it was made (a refused connection never reached the callee).
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Unavailable { source, .. } => !source.is_connect(),
            _ => false,
        }
    }
}

/// Whether an answer is the callee's own outage, to count against its circuit breaker: a 503
/// without `Proxy-Status`. Anything else it answers shows it up and serving — a 500 is one
/// request's failure, and a 502/503/504 with `Proxy-Status` relays a failure further down, which
/// must not open the breaker for everyone's calls to this healthy service. Timeouts and transport
/// errors, which get no answer, always count.
pub fn counts_as_outage(status: http::StatusCode, headers: &http::HeaderMap) -> bool {
    status == http::StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(PROXY_STATUS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, StatusCode};

    #[test]
    fn only_a_callees_own_503_is_an_outage() {
        let relayed: HeaderMap = [(
            PROXY_STATUS,
            HeaderValue::from_static("order-service; next-hop=payment-service"),
        )]
        .into_iter()
        .collect();
        let own = HeaderMap::new();
        assert!(counts_as_outage(StatusCode::SERVICE_UNAVAILABLE, &own));
        assert!(!counts_as_outage(StatusCode::SERVICE_UNAVAILABLE, &relayed));
        for status in [500, 502, 504, 404, 429, 200] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!counts_as_outage(status, &own), "{status}");
            assert!(!counts_as_outage(status, &relayed), "{status}");
        }
    }

    #[test]
    fn a_relayed_failure_names_who_answers_and_who_failed() {
        let answer = |error: ClientError| error.proxy_status("order-service");
        assert_eq!(
            answer(ClientError::Timeout {
                service: "payment-service"
            }),
            "order-service; next-hop=payment-service; error=http_response_timeout"
        );
        assert_eq!(
            answer(ClientError::CircuitOpen {
                service: "user-service"
            }),
            "order-service; next-hop=user-service; error=destination_unavailable"
        );
        assert_eq!(
            answer(ClientError::UnexpectedStatus {
                service: "payment-service",
                status: StatusCode::INTERNAL_SERVER_ERROR,
            }),
            "order-service; next-hop=payment-service; received-status=500"
        );
    }
}
