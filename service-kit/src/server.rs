//! The server side every service shares: JSON for every error answer (unknown paths, 405s,
//! 413s, oversized heads, panics), a request-body timeout, per-request faults from baggage, the
//! SERVER span around it all ([`shared_tracing::server`]), and serving — with a header-read
//! timeout and a connection cap — until SIGTERM or Ctrl-C.

use crate::{
    error::ApiError,
    faults::{self, Faults},
    tracecontext_test,
};
use axum::{
    Router,
    extract::{ConnectInfo, Request},
    http::{
        StatusCode,
        header::{CONTENT_LENGTH, CONTENT_TYPE},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use shared_tracing::server::EdgeTrust;
use std::time::Duration;
use tower_http::{catch_panic::CatchPanicLayer, timeout::RequestBodyTimeoutLayer};

/// How long a request's body may take to arrive in full.
const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The development hooks of a service's server, both off in production: per-request faults
/// from baggage, and the W3C harness's `POST /tracecontext/test`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which faults the service honours.
    pub faults: Faults,
    /// Whether `POST /tracecontext/test` is served (`TRACECONTEXT_TEST_ENDPOINT=true`, never
    /// with `ENVIRONMENT=production`).
    pub tracecontext_test: bool,
}

impl Options {
    /// From the environment, for the service whose `service.name` defaults to `service`.
    pub fn from_env(service: &str) -> Self {
        Self::from_lookup(Faults::from_env(service), |key| std::env::var(key).ok())
    }

    /// [`Options::from_env`] through `lookup`, with `faults` already read.
    pub fn from_lookup(faults: Faults, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let production = lookup("ENVIRONMENT").is_some_and(|e| e.trim() == "production");
        let asked = lookup("TRACECONTEXT_TEST_ENDPOINT")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Self {
            faults,
            tracecontext_test: asked && !production,
        }
    }

    /// Everything off (in-process tests, for instance).
    pub fn off() -> Self {
        Self {
            faults: Faults::off(),
            tracecontext_test: false,
        }
    }
}

/// A service's router as it is served: every route (and the fallback) in a SERVER span joined to
/// the caller's trace, unknown paths answered with a JSON 404, panics with a JSON 500, any other
/// error without a JSON body given one, and the development hooks `options` allows.
pub fn app<S>(router: Router<S>, options: &Options) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    shared_tracing::server::instrument(layers(router, options))
}

/// [`app`] for the public edge (the gateway): callers `trust` does not cover start a trace of
/// their own ([`shared_tracing::server::instrument_edge`]); when fault injection is off, inbound
/// `baggage` is dropped before anything reads it, so outsiders cannot steer faults or smuggle
/// entries into the system.
pub fn edge_app<S>(router: Router<S>, options: &Options, trust: EdgeTrust) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let strip = !options.faults.enabled();
    shared_tracing::server::instrument_edge(layers(router, options), trust).layer(
        axum::middleware::map_request(move |mut request: Request| async move {
            if strip {
                request.headers_mut().remove("baggage");
            }
            request
        }),
    )
}

/// Layers run bottom-up on the way in: the SERVER span (added around these) is entered first, so
/// everything here runs inside it.
fn layers<S>(router: Router<S>, options: &Options) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = match options.tracecontext_test {
        true => router.route(
            tracecontext_test::PATH,
            axum::routing::post(tracecontext_test::handle),
        ),
        false => router,
    };
    router
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }))
        .layer(axum::middleware::map_response(json_errors))
        // A body that trickles in is cut off (headers have their own timeout in `serve`).
        .layer(RequestBodyTimeoutLayer::new(REQUEST_BODY_TIMEOUT))
        .layer(axum::middleware::from_fn(limit_head))
        .layer(axum::middleware::from_fn_with_state(
            options.faults.clone(),
            faults::inject,
        ))
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

/// Serves `router` on `listener` until SIGTERM or Ctrl-C: [`serve_until`] with
/// [`shutdown_signal`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServerArgs,
) -> std::io::Result<()> {
    serve_until(listener, router, limits, shutdown_signal()).await
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
/// HTTP/1.1; each request carries the caller's address (`ConnectInfo`), which the edge
/// decides trust by; `limits` bound how long headers may take and how many connections are open.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServerArgs,
    shutdown: impl Future<Output = ()>,
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
        let stream = crate::connection::Shared::new(stream);
        let watch = stream.clone();
        let answered = stream.clone();
        let service = router
            .clone()
            .map_request(move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                request
            })
            .map_response(move |response| {
                answered.answered();
                response
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A head that came too slowly: hyper gives up; part of one came, so it gets a 408.
            if let Err(error) = connection.await
                && error.is_timeout()
            {
                watch.time_out().await;
            }
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
