//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use service_kit::{BreakerArgs, config::millis};
use std::{net::SocketAddr, time::Duration};

/// user-service settings.
#[derive(Clone, clap::Parser)]
#[command(name = "user-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8081")]
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
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:user.db")]
    pub database_url: String,
    /// Base URL of auth-service.
    #[arg(
        long,
        env = "AUTH_SERVICE_URL",
        default_value = "http://localhost:8082"
    )]
    pub auth_service_url: String,
    /// Timeout of calls to auth-service, in milliseconds.
    #[arg(long = "auth-timeout-ms", env = "AUTH_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub auth_timeout: Duration,
    /// Circuit breaker settings of the calls to auth-service.
    #[command(flatten)]
    pub breaker: BreakerArgs,
}
