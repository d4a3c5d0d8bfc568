//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use service_kit::config::millis;
use std::{net::SocketAddr, time::Duration};

/// inventory-service settings.
#[derive(Clone, clap::Parser)]
#[command(name = "inventory-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8084")]
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
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:inventory.db")]
    pub database_url: String,
    /// NATS server with JetStream, for the `orders.created` events.
    #[arg(long, env = "NATS_URL", default_value = "nats://localhost:4222")]
    pub nats_url: String,
    /// How long stock stays held for an order that neither confirms (its `orders.created`
    /// event) nor releases it, in milliseconds: then it goes back on sale. Far above a normal
    /// order's few milliseconds between reserve and event; an event that comes later still sells
    /// the stock if it is there.
    #[arg(long = "reservation-ttl-ms", env = "RESERVATION_TTL_MS", default_value = "600000", value_parser = millis)]
    pub reservation_ttl: Duration,
    /// Run the `orders.created` consumer in this process. `false` serves the API only, so API
    /// and workers can be scaled apart.
    #[arg(long, env = "INVENTORY_CONSUMER", default_value_t = true, action = clap::ArgAction::Set)]
    pub inventory_consumer: bool,
    /// Stock every catalogue product has at least when the service starts: a lower `available`
    /// is raised to it (never lowered). Unset, the migration's seed (1000 each) is all there is.
    /// For load tests and demos that would otherwise sell out.
    #[arg(long, env = "SEED_STOCK")]
    pub seed_stock: Option<u32>,
    /// Delivery settings of the `orders.created` consumer.
    #[command(flatten)]
    pub consumer: service_kit::events::ConsumerSettings,
}
