//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use service_kit::{BreakerArgs, config::millis};
use std::{net::SocketAddr, time::Duration};

/// order-service settings.
#[derive(Clone, clap::Parser)]
#[command(name = "order-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8083")]
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
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:order.db")]
    pub database_url: String,
    /// NATS server with JetStream: `orders.created` out, `orders.fulfilled` in.
    #[arg(long, env = "NATS_URL", default_value = "nats://localhost:4222")]
    pub nats_url: String,
    /// Copies of the ORDERS stream JetStream keeps, on as many servers (3 on a three-node
    /// cluster; at most the cluster's size). Applies when the stream is created.
    #[arg(long, env = "STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
    /// Delivery settings of the `orders.fulfilled` consumer.
    #[command(flatten)]
    pub consumer: service_kit::events::ConsumerSettings,
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
    /// Base URL of inventory-service.
    #[arg(
        long,
        env = "INVENTORY_SERVICE_URL",
        default_value = "http://localhost:8084"
    )]
    pub inventory_service_url: String,
    /// Base URL of payment-service.
    #[arg(
        long,
        env = "PAYMENT_SERVICE_URL",
        default_value = "http://localhost:8085"
    )]
    pub payment_service_url: String,
    /// Timeout of calls to auth-service, in milliseconds.
    #[arg(long = "auth-timeout-ms", env = "AUTH_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub auth_timeout: Duration,
    /// Timeout of calls to user-service, in milliseconds (it calls auth-service in turn).
    #[arg(long = "user-timeout-ms", env = "USER_TIMEOUT_MS", default_value = "4000", value_parser = millis)]
    pub user_timeout: Duration,
    /// Timeout of calls to inventory-service, in milliseconds.
    #[arg(long = "inventory-timeout-ms", env = "INVENTORY_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub inventory_timeout: Duration,
    /// Circuit breaker settings, one breaker per downstream.
    #[command(flatten)]
    pub breaker: BreakerArgs,
    /// Timeout of calls to payment-service, in milliseconds.
    #[arg(long = "payment-timeout-ms", env = "PAYMENT_TIMEOUT_MS", default_value = "2000", value_parser = millis)]
    pub payment_timeout: Duration,
}
