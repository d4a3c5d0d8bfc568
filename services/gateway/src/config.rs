//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use service_kit::{BreakerArgs, config::millis};
use std::{net::SocketAddr, time::Duration};

/// gateway settings.
#[derive(Clone, clap::Parser)]
#[command(name = "gateway", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
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
    /// Base URL of auth-service.
    #[arg(
        long,
        env = "AUTH_SERVICE_URL",
        default_value = "http://localhost:8082"
    )]
    pub auth_service_url: String,
    /// Base URL of user-service.
    #[arg(
        long,
        env = "USER_SERVICE_URL",
        default_value = "http://localhost:8081"
    )]
    pub user_service_url: String,
    /// Base URL of order-service.
    #[arg(
        long,
        env = "ORDER_SERVICE_URL",
        default_value = "http://localhost:8083"
    )]
    pub order_service_url: String,
    /// Base URL of inventory-service.
    #[arg(
        long,
        env = "INVENTORY_SERVICE_URL",
        default_value = "http://localhost:8084"
    )]
    pub inventory_service_url: String,
    /// Whose `traceparent` the gateway continues: `*`, or caller IP addresses separated by
    /// commas (a load balancer that already traces). Default: everyone, except with
    /// ENVIRONMENT=production, where a caller not named starts a trace of its own (its context
    /// kept as a link).
    #[arg(long, env = "TRACE_CONTEXT_TRUSTED_CALLERS")]
    pub trace_context_trusted_callers: Option<String>,
    /// Circuit breaker settings, one breaker per upstream service.
    #[command(flatten)]
    pub breaker: BreakerArgs,
    /// Timeout of calls to auth-service, in milliseconds.
    #[arg(long = "auth-timeout-ms", env = "AUTH_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub auth_timeout: Duration,
    /// Timeout of calls to user-service, in milliseconds (it calls auth-service in turn).
    #[arg(long = "user-timeout-ms", env = "USER_TIMEOUT_MS", default_value = "5000", value_parser = millis)]
    pub user_timeout: Duration,
    /// Timeout of calls to order-service, in milliseconds (it calls three services in turn).
    #[arg(long = "order-timeout-ms", env = "ORDER_TIMEOUT_MS", default_value = "10000", value_parser = millis)]
    pub order_timeout: Duration,
    /// Timeout of calls to inventory-service, in milliseconds.
    #[arg(long = "inventory-timeout-ms", env = "INVENTORY_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub inventory_timeout: Duration,
}
