//! Serving a router until SIGTERM or Ctrl-C, with a header-read timeout and a connection cap
//! (`axum::serve` has neither), then letting in-flight requests finish within a grace period.

use axum::{Router, extract::ConnectInfo, extract::Request};
use shared_tracing::shutdown_signal;
use std::time::Duration;

/// How [`serve`] guards its connections and ends: `HTTP_HEADER_READ_TIMEOUT_MS`,
/// `HTTP_MAX_CONNECTIONS` and `SHUTDOWN_GRACE_MS`, for a service's `Config`
/// (`#[command(flatten)]`).
#[derive(Debug, Clone, Copy, clap::Args)]
#[command(next_help_heading = "HTTP server")]
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
    /// How long in-flight requests may take to finish after SIGTERM or Ctrl-C, in milliseconds.
    /// Past it the connections still open are closed — their requests' spans end and are exported
    /// with the rest — and the process exits. Below the orchestrator's own grace period (10 s in
    /// compose, 30 s in Kubernetes), so one stuck connection cannot get the process killed before
    /// it has flushed its spans.
    #[arg(long = "shutdown-grace-ms", env = "SHUTDOWN_GRACE_MS", default_value = "8000", value_parser = crate::config::millis)]
    pub shutdown_grace: Duration,
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

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for up to `limits.shutdown_grace` and closes the connections still open.
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
    // Every connection's task, so those still open past the grace period can be ended here —
    // their spans closed while the exporter still runs — rather than dropped with the runtime.
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
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
        connections.spawn(async move {
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
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open_connections = connections.len(),
            shutdown_grace_ms = limits.shutdown_grace.as_millis() as u64,
            "shutdown grace period over: closing the connections still open"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}
