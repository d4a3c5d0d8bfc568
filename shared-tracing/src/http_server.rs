//! The HTTP server hop: a tower [`Layer`] that puts every request of an axum `Router` in a SERVER
//! span joined to the caller's trace — or, at a public edge, to a trace of its own when the
//! caller is not trusted — with the stable HTTP semantic-convention attributes, and answers with
//! a `traceresponse` header.
//!
//! ```
//! use axum::{Router, routing::get};
//! use shared_tracing::http_server::ServerLayer;
//!
//! let app: Router = Router::new()
//!     .route("/api/quote/{sku}", get(|| async { "42" }))
//!     // Last, so every route (and what the layers added before it do) runs inside the span.
//!     .layer(ServerLayer::new());
//! ```

use axum::{
    extract::{ConnectInfo, MatchedPath},
    http::{HeaderName, HeaderValue, Request, Response, header::HOST},
};
use opentelemetry::{Context, KeyValue, trace::TraceContextExt};
use opentelemetry_http::HeaderExtractor;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tower::Layer;
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    set_header::{MakeHeaderValue, SetResponseHeader},
    trace::{DefaultOnBodyChunk, DefaultOnEos, MakeSpan, OnResponse, Trace, TraceLayer},
};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The remote context a request's headers carry (empty when there is none or it is malformed).
pub fn extract(headers: &http::HeaderMap) -> Context {
    crate::propagation::extract(&HeaderExtractor(headers))
}

/// Names the caller a request's credential proved, on the current SERVER span
/// (`service.peer.name`, the semantic conventions' successor of `peer.service`): a trace then
/// shows who called whom by identity, not only by address.
pub fn record_caller(service: &str) {
    Span::current().set_attribute("service.peer.name", service.to_owned());
}

/// Whose `traceparent` a public edge continues: everyone's, or only some callers' (a trusted load
/// balancer's). An empty list trusts no one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeTrust {
    /// Every caller's trace context is continued.
    All,
    /// Only these callers'.
    Callers(Vec<std::net::IpAddr>),
}

impl EdgeTrust {
    /// From `TRACE_CONTEXT_TRUSTED_CALLERS`: `*`, or caller IP addresses separated by commas;
    /// unset, everyone outside production and no one in it. Entries that are not IP addresses are
    /// ignored, each with a warning to log.
    pub fn from_setting(raw: Option<&str>, production: bool) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let trust = match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
            None if production => Self::Callers(Vec::new()),
            None | Some("*") => Self::All,
            Some(raw) => Self::Callers(
                raw.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .filter_map(|entry| match entry.parse() {
                        Ok(ip) => Some(ip),
                        Err(_) => {
                            warnings.push(format!(
                                "TRACE_CONTEXT_TRUSTED_CALLERS: {entry} is not an IP address; ignored"
                            ));
                            None
                        }
                    })
                    .collect(),
            ),
        };
        (trust, warnings)
    }

    fn trusts(&self, caller: Option<std::net::IpAddr>) -> bool {
        match self {
            EdgeTrust::All => true,
            // An IPv4 caller on a dual-stack socket arrives as ::ffff:a.b.c.d.
            EdgeTrust::Callers(callers) => caller.is_some_and(|ip| {
                callers
                    .iter()
                    .any(|trusted| trusted.to_canonical() == ip.to_canonical())
            }),
        }
    }
}

/// The SERVER span layer. Layers added to a router before it run inside its span.
#[derive(Debug, Clone, Default)]
pub struct ServerLayer {
    /// `None` behind the edge: every caller's context is continued.
    edge: Option<Arc<EdgeTrust>>,
}

impl ServerLayer {
    /// For a service behind the edge: every request continues its caller's trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// For the public edge: a caller `trust` does not cover cannot choose the trace. Its request
    /// starts a new trace, sampled by this service's own sampler, and the outside context is kept
    /// as a link on the SERVER span (the OpenTelemetry guidance for untrusted boundaries).
    pub fn edge(trust: EdgeTrust) -> Self {
        Self {
            edge: Some(Arc::new(trust)),
        }
    }
}

/// The service [`ServerLayer`] wraps around an inner service.
pub type ServerService<S> = Trace<
    SetResponseHeader<S, TraceResponse>,
    SharedClassifier<ServerErrorsAsFailures>,
    MakeServerSpan,
    (),
    RecordResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        // Inside the trace layer, so the header is made while the SERVER span is current.
        let inner = SetResponseHeader::overriding(
            inner,
            HeaderName::from_static("traceresponse"),
            TraceResponse,
        );
        TraceLayer::new_for_http()
            .make_span_with(MakeServerSpan {
                edge: self.edge.clone(),
            })
            .on_request(())
            .on_response(RecordResponse)
            .on_failure(())
            .layer(inner)
    }
}

/// Makes each request's SERVER span.
#[derive(Debug, Clone)]
pub struct MakeServerSpan {
    edge: Option<Arc<EdgeTrust>>,
}

impl<B> MakeSpan<B> for MakeServerSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let span = new_server_span(request);
        if span.is_disabled() {
            return span;
        }
        let caller = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let outside = extract(request.headers());
        match &self.edge {
            Some(trust) if !trust.trusts(caller) => {
                // A new root, linked to the context the caller sent (if it sent a valid one).
                crate::spans::continue_from(&span, Context::new());
                let outside = outside.span().span_context().clone();
                if outside.is_valid() {
                    span.add_link_with_attributes(
                        outside,
                        vec![KeyValue::new("link.reason", "untrusted caller")],
                    );
                }
            }
            // An empty context (no or malformed traceparent) leaves a new root.
            _ => crate::spans::continue_from(&span, outside),
        }
        span
    }
}

/// A SERVER span named `{METHOD} {route}` with the stable HTTP semantic convention attributes,
/// its parent not set yet.
fn new_server_span<B>(request: &Request<B>) -> Span {
    // Health probes (Docker, the local stack, load balancers) every few seconds would bury the
    // traces people look for; they are served, not traced.
    if request.uri().path() == "/healthz" {
        return Span::none();
    }
    // The semantic conventions' known methods; any other (of any length) is `_OTHER`.
    let method = match request.method().as_str() {
        known @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE"
        | "PATCH") => known,
        _ => "_OTHER",
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match (route, method) {
        (_, "_OTHER") => "HTTP".to_owned(),
        (Some(route), _) => format!("{method} {route}"),
        (None, _) => method.to_owned(),
    };
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host());
    let (address, port) = match host.map(|h| h.rsplit_once(':').unwrap_or((h, ""))) {
        Some((address, port)) => (Some(address), port.parse::<i64>().ok()),
        None => (None, None),
    };
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok());
    tracing::info_span!(
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.scheme = "http",
        server.address = address,
        server.port = port,
        network.protocol.version = protocol_version(request.version()),
        user_agent.original = user_agent,
        error.type = Empty,
    )
}

/// `network.protocol.version` as the semantic conventions write it (`1.1`, `2`), not as
/// `http::Version` prints itself (`HTTP/1.1`) — and without formatting it on every request.
fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// Records the answer's status on the SERVER span: only a 5xx fails it (a 4xx is the caller's
/// mistake, not the server's).
#[derive(Debug, Clone, Copy)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, response: &Response<B>, _latency: Duration, span: &Span) {
        let status = response.status();
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            crate::spans::mark_failed(span, status.as_str());
        }
    }
}

/// The `traceresponse` header of the current span.
#[derive(Debug, Clone, Copy)]
pub struct TraceResponse;

impl<T> MakeHeaderValue<T> for TraceResponse {
    fn make_header_value(&mut self, _message: &T) -> Option<HeaderValue> {
        crate::propagation::traceresponse(&crate::propagation::current_span_context())
            .and_then(|value| HeaderValue::from_str(&value).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_trusts_everyone_outside_production_and_only_named_callers_in_it() {
        assert_eq!(EdgeTrust::from_setting(None, false).0, EdgeTrust::All);
        assert_eq!(
            EdgeTrust::from_setting(None, true).0,
            EdgeTrust::Callers(vec![])
        );
        let (named, warnings) = EdgeTrust::from_setting(Some("10.0.0.7, ::1, lb.internal"), true);
        assert_eq!(
            named,
            EdgeTrust::Callers(vec!["10.0.0.7".parse().unwrap(), "::1".parse().unwrap()])
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(EdgeTrust::from_setting(Some("*"), true).0, EdgeTrust::All);
        assert!(named.trusts(Some("::ffff:10.0.0.7".parse().unwrap())));
        assert!(!named.trusts(Some("10.0.0.8".parse().unwrap())));
        assert!(!named.trusts(None));
    }
}
