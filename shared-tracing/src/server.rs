//! SERVER spans: every request of a router in a span joined to the caller's trace (or, at the
//! public edge, to a trace of its own when the caller is not trusted), with the stable HTTP
//! semantic-convention attributes and a `traceresponse` header on the answer.

use crate::propagation;
use axum::{
    Router,
    extract::{ConnectInfo, MatchedPath, Request},
    http::{HeaderValue, header::HOST},
    response::Response,
};
use opentelemetry::trace::TraceContextExt;
use std::{net::SocketAddr, time::Duration};
use tower_http::trace::TraceLayer;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Wraps every route of `router` (and its fallback) in a SERVER span joined to the caller's
/// trace, and adds `traceresponse`. Layers added to `router` before run inside the span.
pub fn instrument<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(axum::middleware::map_response(add_traceresponse))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(server_span)
                .on_request(())
                .on_response(record_response)
                .on_failure(()),
        )
}

/// [`instrument`] for the public edge (the gateway). A caller `trust` does not cover cannot
/// choose the trace: its request starts a new trace, sampled by this service's own sampler, and
/// the outside context is kept as a link on the SERVER span (the OpenTelemetry guidance for
/// untrusted boundaries).
pub fn instrument_edge<S>(router: Router<S>, trust: EdgeTrust) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(axum::middleware::map_response(add_traceresponse))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request| edge_span(request, &trust))
                .on_request(())
                .on_response(record_response)
                .on_failure(()),
        )
}

/// Whose `traceparent` the edge continues: `TRACE_CONTEXT_TRUSTED_CALLERS` is `*` (everyone, the
/// default outside production) or a comma-separated list of caller IP addresses (in production
/// the default is none of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeTrust {
    /// Every caller's trace context is continued.
    All,
    /// Only these callers' (for instance a trusted load balancer's); an empty list trusts no one.
    Callers(Vec<std::net::IpAddr>),
}

impl EdgeTrust {
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

/// The edge's SERVER span: joined to the caller's trace when the caller is trusted, else a new
/// root linked to the context the caller sent (if it sent a valid one).
fn edge_span(request: &Request, trust: &EdgeTrust) -> Span {
    let caller = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if trust.trusts(caller) {
        return server_span(request);
    }
    let span = new_server_span(request);
    if span.is_disabled() {
        return span;
    }
    let _ = span.set_parent(opentelemetry::Context::new());
    let outside = propagation::extract(request.headers());
    let outside = outside.span().span_context().clone();
    if outside.is_valid() {
        span.add_link_with_attributes(
            outside,
            vec![opentelemetry::KeyValue::new(
                "link.reason",
                "untrusted caller",
            )],
        );
    }
    span
}

/// The SERVER span for one request, parented to the context extracted from the request headers.
fn server_span(request: &Request) -> Span {
    let span = new_server_span(request);
    // Right after creation, before anything reads the span's context: set_parent fails once the
    // span has started. An empty context (no or malformed traceparent) leaves a new root.
    let _ = span.set_parent(propagation::extract(request.headers()));
    span
}

/// A SERVER span named `{METHOD} {route}` with the stable HTTP semantic convention attributes,
/// its parent not set yet.
fn new_server_span(request: &Request) -> Span {
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
        network.protocol.version = ?request.version(),
        user_agent.original = user_agent,
        error.type = Empty,
    )
}

fn record_response<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    // For SERVER spans only 5xx is an error: a 4xx is the caller's mistake, not ours.
    if status.is_server_error() {
        crate::spans::mark_failed(span, status.as_str());
    }
}

async fn add_traceresponse(mut response: Response) -> Response {
    let value = propagation::traceresponse(&propagation::current_span_context())
        .and_then(|value| HeaderValue::from_str(&value).ok());
    if let Some(value) = value {
        response.headers_mut().insert("traceresponse", value);
    }
    response
}
