//! Per-request faults named in W3C baggage (`fault.<service>=error|unavailable|slow:<ms>|drop`),
//! for demos and failure tests: on unless `ENVIRONMENT=production` or `FAULT_INJECTION=false`.

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
use tracing_opentelemetry::OpenTelemetrySpanExt;

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

    /// From the environment: `FAULT_INJECTION` (`true`, `1`, `yes`, `on` turn it on; anything
    /// else off), by default on unless `ENVIRONMENT=production`; the service's name is its
    /// `service.name` as telemetry resolves it (`OTEL_SERVICE_NAME` and the resource attributes
    /// override `default_service_name`).
    pub fn from_env(default_service_name: &str) -> Self {
        let service = shared_tracing::Settings::from_env(default_service_name).service_name;
        Self::from_lookup(&service, |key| std::env::var(key).ok())
    }

    /// [`Faults::from_env`] through `lookup`, for tests.
    pub fn from_lookup(service: &str, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_ascii_lowercase());
        let production = get("ENVIRONMENT").as_deref() == Some("production");
        let enabled = get("FAULT_INJECTION")
            .filter(|raw| !raw.is_empty())
            .map(|raw| matches!(raw.as_str(), "true" | "1" | "yes" | "on"))
            .unwrap_or(!production);
        Self::new(service, enabled)
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
    let context = tracing::Span::current().context();
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

    fn faults(vars: &[(&str, &str)]) -> Faults {
        Faults::from_lookup("order-service", |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn fault_injection_is_off_in_production_unless_asked_for() {
        assert!(faults(&[]).enabled());
        assert!(!faults(&[("ENVIRONMENT", "production")]).enabled());
        assert!(faults(&[("ENVIRONMENT", "production"), ("FAULT_INJECTION", "true")]).enabled());
        assert!(!faults(&[("FAULT_INJECTION", "false")]).enabled());
        assert_eq!(&*faults(&[]).key, "fault.order-service");
    }
}
