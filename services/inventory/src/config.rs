//! Configuration from the environment (or flags; `--help` lists them).

use std::net::SocketAddr;

/// inventory-service settings.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "inventory-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8084")]
    pub listen_addr: SocketAddr,
    /// SQLite database URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:inventory.db")]
    pub database_url: String,
}
