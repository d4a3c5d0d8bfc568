//! Per-request faults named in W3C baggage (`fault.<service>=error|unavailable|slow:<ms>|drop`),
//! for demos and failure tests: on unless `ENVIRONMENT=production` or `FAULT_INJECTION=false`
//! ([`crate::config::DevHooks`]).

use crate::error::ApiError;
use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use opentelemetry::baggage::BaggageExt;
use std::{sync::Arc, time::Duration};

/// Which service this process is (its `fault.<service>` entry) and whether it honours faults.
#[derive(Debug, Clone)]
pub struct Faults {
    service: Arc<str>,
    key: Arc<str>,
    enabled: bool,
}

impl Faults {
    /// Faults for `service` (its `service.name`), honoured or not.
    pub fn new(service: &str, enabled: bool) -> Self {
        Self {
            service: service.into(),
            key: format!("fault.{service}").into(),
            enabled,
        }
    }

    /// No faults honoured (in-process tests, for instance).
    pub fn off() -> Self {
        Self::new("", false)
    }

    /// Whether faults are honoured.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

/// A fault a request asks this service for, in the baggage entry `fault.<service>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer 500: one request failed, the service is up (the caller's breaker does not count it).
    Error,
    /// Answer 503: the service is unavailable (the caller's breaker counts it).
    Unavailable,
    /// Sleep this many milliseconds, then handle the request.
    Slow(u64),
    /// Close the connection without an answer.
    Drop,
}

impl Fault {
    /// Parses `error`, `unavailable`, `slow:<ms>` or `drop`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "error" => Some(Self::Error),
            "unavailable" => Some(Self::Unavailable),
            "drop" => Some(Self::Drop),
            other => other.strip_prefix("slow:")?.parse().ok().map(Self::Slow),
        }
    }
}

/// Applies the fault the request's baggage names for this service, if fault injection is on,
/// recording a `fault_injected` event on the SERVER span.
pub(crate) async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    if !faults.enabled {
        return next.run(request).await;
    }
    let key = &*faults.key;
    let context = shared_tracing::spans::context(&tracing::Span::current());
    let Some(value) = context.baggage().get(key).map(|v| v.to_string()) else {
        return next.run(request).await;
    };
    let Some(fault) = Fault::parse(&value) else {
        tracing::warn!(entry = %key, value, "unknown fault kind ignored");
        return next.run(request).await;
    };
    tracing::warn!(fault.kind = ?fault, fault.entry = %value, service = &*faults.service, "fault_injected");
    match fault {
        Fault::Error => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "injected fault").into_response()
        }
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected fault: unavailable",
        )
        .into_response(),
        Fault::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        // A body that fails before its first byte makes hyper abort the connection: the caller
        // sees it closed with no answer, like a crashed process.
        Fault::Drop => {
            let failing = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("injected fault: drop"))
            });
            Response::new(Body::from_stream(failing))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds_parse() {
        assert_eq!(Fault::parse("error"), Some(Fault::Error));
        assert_eq!(Fault::parse("unavailable"), Some(Fault::Unavailable));
        assert_eq!(Fault::parse("slow:250"), Some(Fault::Slow(250)));
        assert_eq!(Fault::parse(" drop "), Some(Fault::Drop));
        assert_eq!(Fault::parse("slow:soon"), None);
        assert_eq!(Fault::parse("explode"), None);
    }

    #[test]
    fn a_service_reads_its_own_entry() {
        assert_eq!(
            &*Faults::new("order-service", true).key,
            "fault.order-service"
        );
    }
}
