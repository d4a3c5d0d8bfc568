//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use service_kit::config::millis;
use std::{net::SocketAddr, time::Duration};

/// payment-service settings.
#[derive(Clone, clap::Parser)]
#[command(name = "payment-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8085")]
    pub listen_addr: SocketAddr,
    /// Header-read timeout and connection cap of the HTTP server.
    #[command(flatten)]
    pub server: service_kit::ServerArgs,
    /// Fault injection and the W3C harness endpoint.
    #[command(flatten)]
    pub dev: service_kit::DevHooks,
    /// This service's key and the public keys of the services it admits.
    #[command(flatten)]
    pub identity: service_kit::IdentityArgs,
    /// The OpenTelemetry settings, under the specification's variable names.
    #[command(flatten)]
    pub telemetry: shared_tracing::TelemetryConfig,
    /// SQLite database URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:payment.db")]
    pub database_url: String,
    /// How long the processor takes for the slow test card `4000000000000036`, in milliseconds.
    #[arg(long = "payment-slow-ms", env = "PAYMENT_SLOW_MS", default_value = "5000", value_parser = millis)]
    pub payment_slow: Duration,
    /// How long an approved charge waits for its order to capture it, in milliseconds: one not
    /// captured by then is voided (the card is given back), and a capture after that is refused.
    /// Far above an order's few milliseconds between charge and capture; what an order-service
    /// that died mid-order or never got a void through leaves behind is given back within it.
    #[arg(long = "payment-capture-ttl-ms", env = "PAYMENT_CAPTURE_TTL_MS", default_value = "60000", value_parser = millis)]
    pub capture_ttl: Duration,
    /// The largest charge taken, in cents; a larger one is refused (400). Above the largest
    /// order the catalogue allows, far below what a cent count can hold.
    #[arg(long, env = "PAYMENT_MAX_AMOUNT_CENTS", default_value_t = 10_000_000)]
    pub max_amount_cents: i64,
}
