//! Serving a router until SIGTERM or Ctrl-C, with a header-read timeout and a connection cap
//! (`axum::serve` has neither), then letting in-flight requests finish.

use axum::{Router, extract::ConnectInfo, extract::Request};
use shared_tracing::shutdown_signal;
use std::time::Duration;

/// How [`serve`] guards its connections: `HTTP_HEADER_READ_TIMEOUT_MS` and
/// `HTTP_MAX_CONNECTIONS`, for a service's `Config` (`#[command(flatten)]`).
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
