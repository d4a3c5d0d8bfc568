//! The server side every service shares: the request-span layer, the `traceresponse` header,
//! per-request faults from baggage, JSON for every error answer (404s, 405s, 413s, panics), the
//! public edge's trust in callers' trace context, and serving — with a header-read timeout, a
//! request-body timeout and a connection cap — until SIGTERM or Ctrl-C.

use crate::{error::ApiError, propagation};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::{ConnectInfo, MatchedPath, Request},
    http::{
        HeaderValue, StatusCode,
        header::{CONTENT_LENGTH, CONTENT_TYPE, HOST},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use opentelemetry::{baggage::BaggageExt, trace::TraceContextExt};
use std::{net::SocketAddr, sync::OnceLock, time::Duration};
use tower_http::{
    catch_panic::CatchPanicLayer, timeout::RequestBodyTimeoutLayer, trace::TraceLayer,
};

/// How long a request's body may take to arrive in full.
const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Wraps every route of `router` (and its fallback) in a SERVER span joined to the caller's trace,
/// answers unknown paths with a JSON 404, panics with a JSON 500 and any other error without a
/// JSON body with one, and adds `traceresponse`.
pub fn instrument<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    instrument_with(router, server_span)
}

fn instrument_with<S>(router: Router<S>, make_span: fn(&Request) -> Span) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        // Layers run bottom-up on the way in: the trace span is entered first, so the
        // traceresponse and panic handlers below already run inside it.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .layer(axum::middleware::map_response(json_errors))
        // A body that trickles in is cut off (headers have their own timeout in `serve`).
        .layer(RequestBodyTimeoutLayer::new(REQUEST_BODY_TIMEOUT))
        .layer(axum::middleware::from_fn(limit_head))
        .layer(axum::middleware::from_fn(inject_fault))
        .layer(axum::middleware::map_response(add_traceresponse))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_request(())
                .on_response(record_response)
                .on_failure(()),
        )
}

/// The longest request target and the most header bytes a request may have. Past them the
/// answer is a JSON 414 or 431 with the trace id. Further out, hyper answers on its own, without
/// a body: a target of 64 KiB or more, a head over about 400 KiB, or more than 100 headers.
const MAX_TARGET_BYTES: usize = 16 * 1024;
const MAX_HEADER_BYTES: usize = 64 * 1024;

async fn limit_head(request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET_BYTES {
        return ApiError::new(StatusCode::URI_TOO_LONG, "request target too long").into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
        .into_response();
    }
    next.run(request).await
}

/// Error answers that no handler wrote — axum's 405, a body over the size limit, a wrong
/// content type — get the JSON body every other error has, `{"error", "trace_id"}`, keeping
/// their status and headers (`Allow`, for instance).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // axum's own error bodies are one line of text.
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_owned(),
        false => text,
    };
    let json = ApiError::new(status, message).into_response();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.extend(json.headers().clone());
    Response::from_parts(parts, json.into_body())
}

/// [`instrument`] for the public edge (the gateway). A caller it does not trust
/// ([`EdgeTrust`]) cannot choose the trace: its request starts a new trace, sampled by this
/// service's own sampler, and the outside context is kept as a link on the SERVER span (the
/// OpenTelemetry guidance for untrusted boundaries). When fault injection is off, inbound
/// `baggage` is dropped before anything reads it, so outsiders cannot steer faults or smuggle
/// entries into the system.
pub fn instrument_edge<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    instrument_with(router, edge_span)
        .layer(axum::middleware::map_request(strip_baggage_unless_faults))
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

static EDGE_TRUST: OnceLock<EdgeTrust> = OnceLock::new();

pub(crate) fn configure_edge(trust: EdgeTrust) {
    let _ = EDGE_TRUST.set(trust);
}

/// The edge's SERVER span: joined to the caller's trace when the caller is trusted, else a new
/// root linked to the context the caller sent (if it sent a valid one).
fn edge_span(request: &Request) -> Span {
    let caller = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    // Outside `init` (in-process tests) every caller is trusted.
    if EDGE_TRUST.get().is_none_or(|trust| trust.trusts(caller)) {
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

async fn strip_baggage_unless_faults(mut request: Request) -> Request {
    if !faults().enabled {
        request.headers_mut().remove("baggage");
    }
    request
}

/// Which service this process is, and whether it honours faults from baggage; set by `init`.
#[derive(Debug)]
struct Faults {
    service: String,
    enabled: bool,
}

static FAULTS: OnceLock<Faults> = OnceLock::new();

pub(crate) fn configure_faults(service: &str, enabled: bool) {
    let _ = FAULTS.set(Faults {
        service: service.to_owned(),
        enabled,
    });
}

/// Disabled until `init` says otherwise (in-process tests, for instance).
fn faults() -> &'static Faults {
    FAULTS.get_or_init(|| Faults {
        service: String::new(),
        enabled: false,
    })
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
async fn inject_fault(request: Request, next: Next) -> Response {
    let faults = faults();
    if !faults.enabled {
        return next.run(request).await;
    }
    let key = format!("fault.{}", faults.service);
    let context = tracing::Span::current().context();
    let Some(value) = context.baggage().get(key.as_str()).map(|v| v.to_string()) else {
        return next.run(request).await;
    };
    let Some(fault) = Fault::parse(&value) else {
        tracing::warn!(entry = %key, value, "unknown fault kind ignored");
        return next.run(request).await;
    };
    tracing::warn!(fault.kind = ?fault, fault.entry = %value, service = %faults.service, "fault_injected");
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

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// How [`serve`] guards its connections: `HTTP_HEADER_READ_TIMEOUT_MS` and
/// `HTTP_MAX_CONNECTIONS`, for a service's `Config` (`#[command(flatten)]`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ServerArgs {
    /// How long a connection may take to send a request's headers, in milliseconds (idle
    /// keep-alive time included); a slower one is closed, so a client that trickles headers or
    /// sends nothing (slowloris) cannot hold it for long. 0 turns the timeout off.
    #[arg(long = "http-header-read-timeout-ms", env = "HTTP_HEADER_READ_TIMEOUT_MS", default_value = "5000", value_parser = crate::config::millis)]
    pub header_read_timeout: Duration,
    /// Connections served at once. Past it, new ones wait in the listen backlog until one closes,
    /// instead of the process running out of file descriptors and failing everyone.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,
}

/// Serves `router` on `listener` until SIGTERM or Ctrl-C, then lets in-flight requests finish.
/// HTTP/1.1; each request carries the caller's address (`ConnectInfo`), which the edge
/// decides trust by; `limits` bound how long headers may take and how many connections are open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServerArgs,
) -> std::io::Result<()> {
    use hyper::server::conn::http1;
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        server::graceful::GracefulShutdown,
        service::TowerToHyperService,
    };
    use tower::ServiceExt;

    tracing::info!(
        address = %listener.local_addr()?,
        max_connections = limits.max_connections,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        "listening"
    );
    // HTTP/1.1 only (every caller here speaks it): its header-read timer runs from the moment a
    // connection waits for a request, so a client that sends nothing, or keeps an idle
    // connection, is closed too. Zero turns the timeout off.
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(
        (!limits.header_read_timeout.is_zero()).then_some(limits.header_read_timeout),
    );
    let graceful = GracefulShutdown::new();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        // A permit first: past the cap, connections are left in the backlog, not accepted.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service =
            router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(remote));
                    request
                });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Resolves on the first Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining requests and flushing spans");
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn fault_kinds_parse() {
        assert_eq!(Fault::parse("error"), Some(Fault::Error));
        assert_eq!(Fault::parse("slow:250"), Some(Fault::Slow(250)));
        assert_eq!(Fault::parse(" drop "), Some(Fault::Drop));
        assert_eq!(Fault::parse("slow:soon"), None);
        assert_eq!(Fault::parse("explode"), None);
    }
}
