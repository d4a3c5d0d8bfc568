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

use crate::spans::Sampling;
use axum::{
    extract::{ConnectInfo, MatchedPath},
    http::{HeaderName, HeaderValue, Request, Response, header::HOST},
};
use futures_util::future::Either;
use opentelemetry::{
    Context, KeyValue,
    context::{FutureExt, WithContext},
    trace::{SpanContext, SpanKind, TraceContextExt},
};
use opentelemetry_http::HeaderExtractor;
use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Duration,
};
use tower::{Layer, Service};
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

/// The service [`ServerLayer`] wraps around an inner service: the trace decided, then the
/// SERVER span made (for sampled requests), then the unsampled context attached (for the others),
/// then the `traceresponse` header, then the routes.
pub type ServerService<S> = DecideTrace<
    Trace<
        AttachUnsampled<SetResponseHeader<S, TraceResponse>>,
        SharedClassifier<ServerErrorsAsFailures>,
        MakeServerSpan,
        (),
        RecordResponse,
        DefaultOnBodyChunk,
        DefaultOnEos,
        (),
    >,
>;

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        // Inside the attached context and the trace layer, so the header is made while the
        // request's span (or unsampled context) is current.
        let inner = SetResponseHeader::overriding(
            inner,
            HeaderName::from_static("traceresponse"),
            TraceResponse,
        );
        let traced = TraceLayer::new_for_http()
            .make_span_with(MakeServerSpan)
            .on_request(())
            .on_response(RecordResponse)
            .on_failure(())
            .layer(AttachUnsampled { inner });
        DecideTrace {
            inner: traced,
            edge: self.edge.clone(),
        }
    }
}

/// What the SERVER hop decided before any span was made: the parent to continue (empty for a new
/// root), the context an untrusted caller sent (kept as a link), and, for a request this service
/// does not sample, the context it runs under instead of a span. Carried from [`DecideTrace`] to
/// [`MakeServerSpan`] and [`AttachUnsampled`] in the request's extensions.
#[derive(Clone)]
struct Decision {
    parent: Context,
    link: Option<SpanContext>,
    unsampled: Option<Context>,
}

/// Reads the caller's context and decides the request's trace before its span is made: a
/// sampler that follows parents follows the caller's flag, and is asked about a root here, once
/// ([`crate::spans::DecidedRoot`]). A request that is not sampled gets no span at all: the bridge
/// would build one, copying every attribute, only for the SDK to drop it.
#[derive(Debug, Clone)]
pub struct DecideTrace<S> {
    inner: S,
    edge: Option<Arc<EdgeTrust>>,
}

impl<S, B> Service<Request<B>> for DecideTrace<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Health probes (Docker, the local stack, load balancers) every few seconds would bury
        // the traces people look for; they are served, not traced. Without an SDK nothing is.
        if request.uri().path() != "/healthz" && crate::spans::sampling() != Sampling::Disabled {
            let decision = decide(&request, self.edge.as_deref());
            request.extensions_mut().insert(decision);
        }
        self.inner.call(request)
    }
}

fn decide<B>(request: &Request<B>, edge: Option<&EdgeTrust>) -> Decision {
    let outside = extract(request.headers());
    let (parent, link) = match edge {
        Some(trust) => {
            let caller = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip());
            match trust.trusts(caller) {
                true => (outside, None),
                // A new root, linked to the context the caller sent (if it sent a valid one).
                false => {
                    let sent = outside.span().span_context().clone();
                    (Context::new(), sent.is_valid().then_some(sent))
                }
            }
        }
        // An empty context (no or malformed traceparent) leaves a new root.
        None => (outside, None),
    };
    let (is_root, sampled) = {
        let span = parent.span();
        let parent_span = span.span_context();
        (!parent_span.is_valid(), parent_span.is_sampled())
    };
    // The parent the span is made under, or the context the request runs under instead.
    let unsampled = |parent: Context| {
        let unsampled = crate::spans::unsampled_child(&parent);
        (parent, Some(unsampled))
    };
    let (parent, unsampled) = match crate::spans::sampling() {
        Sampling::Independent | Sampling::Disabled => (parent, None),
        Sampling::Never => unsampled(parent),
        Sampling::FollowsParent | Sampling::FollowsParentNoRoots if sampled => (parent, None),
        Sampling::FollowsParentNoRoots => unsampled(parent),
        // A root: the sampler is asked now, once, before any span is made.
        Sampling::FollowsParent if is_root => {
            match crate::spans::decide_root(&parent, &span_name(request), SpanKind::Server) {
                Some(Ok(decided)) => (decided, None),
                Some(Err(context)) => (parent, Some(context)),
                None => (parent, None),
            }
        }
        Sampling::FollowsParent => unsampled(parent),
    };
    Decision {
        parent,
        link,
        unsampled,
    }
}

/// Makes each sampled request's SERVER span, as [`DecideTrace`] decided.
#[derive(Debug, Clone, Copy)]
pub struct MakeServerSpan;

impl<B> MakeSpan<B> for MakeServerSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let Some(decision) = request.extensions().get::<Decision>() else {
            return Span::none();
        };
        if decision.unsampled.is_some() {
            return Span::none();
        }
        let span = new_server_span(request);
        crate::spans::continue_from(&span, decision.parent.clone());
        // A root decided in `DecideTrace` gets the trace id it was decided for.
        crate::spans::start_decided(&span, &decision.parent);
        if let Some(link) = &decision.link {
            span.add_link_with_attributes(
                link.clone(),
                vec![KeyValue::new("link.reason", "untrusted caller")],
            );
        }
        span
    }
}

/// Runs a request that is not sampled under its context attached, so the spans made under it skip
/// the bridge ([`crate::spans`]).
#[derive(Debug, Clone)]
pub struct AttachUnsampled<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for AttachUnsampled<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<WithContext<S::Future>, S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let unsampled = request
            .extensions_mut()
            .remove::<Decision>()
            .and_then(|decision| decision.unsampled);
        match unsampled {
            Some(context) => {
                // Attached for the layers' synchronous `call`s too, not only while polled.
                let _attached = context.clone().attach();
                Either::Left(self.inner.call(request).with_context(context))
            }
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// The semantic conventions' known methods; any other (of any length) is `_OTHER`.
fn method<B>(request: &Request<B>) -> &str {
    match request.method().as_str() {
        known @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE"
        | "PATCH") => known,
        _ => "_OTHER",
    }
}

/// The route template the request matched.
fn route<B>(request: &Request<B>) -> Option<&str> {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
}

/// The SERVER span's name: `{METHOD} {route}`, `{METHOD}` when no route matched, `HTTP` for an
/// unknown method.
fn span_name<B>(request: &Request<B>) -> String {
    match (route(request), method(request)) {
        (_, "_OTHER") => "HTTP".to_owned(),
        (Some(route), method) => format!("{method} {route}"),
        (None, method) => method.to_owned(),
    }
}

/// A SERVER span named `{METHOD} {route}` with the stable HTTP semantic convention attributes,
/// its parent not set yet.
fn new_server_span<B>(request: &Request<B>) -> Span {
    let method = method(request);
    let route = route(request);
    let name = span_name(request);
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
