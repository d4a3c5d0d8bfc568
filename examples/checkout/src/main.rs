//! checkout-service: a checkout for another sales channel (a kiosk, a partner's site) that places
//! orders through the shop's gateway — a seventh service that joins the shop's traces through
//! the tracing kit alone. Its SERVER span continues its caller's trace, its one CLIENT call
//! carries the trace on to the gateway, and both are exported over OTLP like the shop's own.
//!
//! `POST /checkout` with the gateway's order body and `Authorization` → the gateway's answer.

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing};
use clap::Parser;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use shared_tracing::http_client::{self, Call};
use std::{net::SocketAddr, time::Duration};
use tracing::Instrument;

#[derive(Parser)]
#[command(name = "checkout-service", version, about)]
struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8090")]
    listen_addr: SocketAddr,
    /// Base URL of the shop's gateway.
    #[arg(long, env = "GATEWAY_URL", default_value = "http://localhost:8080")]
    gateway_url: String,
    /// The OpenTelemetry settings, under the specification's variable names.
    #[command(flatten)]
    telemetry: shared_tracing::TelemetryConfig,
}

/// What the handler shares: the HTTP client and the gateway's order URL.
type Gateway = State<(reqwest::Client, String)>;

/// Places the order through the gateway, in one CLIENT span, and relays the gateway's answer.
async fn checkout(
    State((http, url)): Gateway,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let mut request = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = headers.get(AUTHORIZATION) {
        request = request.header(AUTHORIZATION, token);
    }
    let Ok(request) = request.build() else {
        return (StatusCode::BAD_REQUEST, Bytes::new());
    };
    let call = Call::new("/api/orders", "gateway", Duration::from_secs(10));
    let (Ok(answer), span) = http_client::send(&http, request, &call).await else {
        return (StatusCode::BAD_GATEWAY, Bytes::new());
    };
    let status = answer.status();
    (
        status,
        answer.bytes().instrument(span).await.unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    let version = env!("CARGO_PKG_VERSION");
    let _telemetry = shared_tracing::init(&config.telemetry, "checkout-service", version)?;
    let url = format!("{}/api/orders", config.gateway_url.trim_end_matches('/'));
    let app = Router::new()
        .route("/checkout", routing::post(checkout))
        .route("/healthz", routing::get(|| async { "ok" }))
        // Last: every route runs inside the SERVER span the kit's layer makes.
        .layer(shared_tracing::http_server::ServerLayer::new())
        .with_state((reqwest::Client::new(), url));
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let stopped = shared_tracing::shutdown_signal();
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await?;
    // `_telemetry` is dropped here, after the last request: the spans still queued are flushed.
    Ok(())
}
