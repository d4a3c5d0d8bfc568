//! The router every service serves: JSON for every error answer (unknown paths, 405s, 413s,
//! oversized heads, panics), a request-body timeout, per-request faults from baggage, and the
//! SERVER span around it all (the kit's [`shared_tracing::http_server::ServerLayer`]).

use crate::{
    config::DevHooks,
    error::ApiError,
    faults::{self, Faults},
    trace_context_harness,
};
use axum::{
    Router,
    extract::Request,
    http::{
        StatusCode,
        header::{CONTENT_LENGTH, CONTENT_TYPE},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};
use shared_tracing::{
    http_server::{EdgeTrust, ServerLayer},
    telemetry::Environment,
};
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
    /// The hooks `dev` asks for in `environment`, for the service named `service` (its
    /// `service.name`, which its `fault.<service>` baggage entry names).
    pub fn new(dev: &DevHooks, environment: &Environment, service: &str) -> Self {
        Self {
            faults: dev.faults(service, environment),
            tracecontext_test: dev.tracecontext_test(environment),
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
    layers(router, options).layer(ServerLayer::new())
}

/// [`app`] for the public edge (the gateway): callers `trust` does not cover start a trace of
/// their own ([`ServerLayer::edge`]); when fault injection is off, inbound
/// `baggage` is dropped before anything reads it, so outsiders cannot steer faults or smuggle
/// entries into the system.
pub fn edge_app<S>(router: Router<S>, options: &Options, trust: EdgeTrust) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let strip = !options.faults.enabled();
    layers(router, options)
        .layer(ServerLayer::edge(trust))
        .layer(axum::middleware::map_request(
            move |mut request: Request| async move {
                if strip {
                    request.headers_mut().remove("baggage");
                }
                request
            },
        ))
}

/// Layers run bottom-up on the way in: the SERVER span (added around these) is entered first, so
/// everything here runs inside it.
fn layers<S>(router: Router<S>, options: &Options) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let router = match options.tracecontext_test {
        true => router.route(
            trace_context_harness::PATH,
            axum::routing::post(trace_context_harness::handle),
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

/// Runs a handler's `work` to its end in a task of its own, under the request's span, and
/// returns what it returns (for a request that is not sampled, under its attached context,
/// which a new task does not inherit). hyper drops a handler whose caller hangs up (a gateway timeout, a
/// closed curl); work that must not stop half-way — a charge, an order's steps — goes through
/// this instead. Nothing aborts the task, so only a panic ends it early; it is raised again
/// here, and the server layer answers 500 for it as for any handler's panic.
pub async fn to_completion<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    let work = shared_tracing::spans::instrument(work, tracing::Span::current());
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
