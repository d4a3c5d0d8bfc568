//! Configuration from the environment (or flags; `--help` lists them).

use shared_tracing::BreakerArgs;
use std::{net::SocketAddr, time::Duration};

/// order-service settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "order-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8083")]
    pub listen_addr: SocketAddr,
    /// SQLite database URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:order.db")]
    pub database_url: String,
    /// NATS server with JetStream, for the `orders.created` events.
    #[arg(long, env = "NATS_URL", default_value = "nats://localhost:4222")]
    pub nats_url: String,
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
    #[arg(long, env = "AUTH_TIMEOUT_MS", default_value_t = 2000)]
    pub auth_timeout_ms: u64,
    /// Timeout of calls to user-service, in milliseconds (it calls auth-service in turn).
    #[arg(long, env = "USER_TIMEOUT_MS", default_value_t = 4000)]
    pub user_timeout_ms: u64,
    /// Timeout of calls to inventory-service, in milliseconds.
    #[arg(long, env = "INVENTORY_TIMEOUT_MS", default_value_t = 2000)]
    pub inventory_timeout_ms: u64,
    /// Circuit breaker settings, one breaker per downstream.
    #[command(flatten)]
    pub breaker: BreakerArgs,
    /// Timeout of calls to payment-service, in milliseconds.
    #[arg(long, env = "PAYMENT_TIMEOUT_MS", default_value_t = 2000)]
    pub payment_timeout_ms: u64,
}

impl Config {
    /// Timeout of calls to auth-service.
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms)
    }

    /// Timeout of calls to user-service.
    pub fn user_timeout(&self) -> Duration {
        Duration::from_millis(self.user_timeout_ms)
    }

    /// Timeout of calls to inventory-service.
    pub fn inventory_timeout(&self) -> Duration {
        Duration::from_millis(self.inventory_timeout_ms)
    }

    /// Timeout of calls to payment-service.
    pub fn payment_timeout(&self) -> Duration {
        Duration::from_millis(self.payment_timeout_ms)
    }
}
