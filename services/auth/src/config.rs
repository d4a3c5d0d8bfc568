//! Configuration, parsed once in `main` from the environment (or flags; `--help` lists them all).

use secrecy::SecretString;
use std::{net::SocketAddr, time::Duration};

/// The signing secret used when `AUTH_JWT_SECRET` is not set. Fine on a laptop, never in production.
pub(crate) const DEV_JWT_SECRET: &str = "dev-only-insecure-jwt-secret-change-me";

/// auth-service settings.
#[derive(Clone, clap::Parser)]
#[command(name = "auth-service", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8082")]
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
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:auth.db")]
    pub database_url: String,
    /// HS256 secret that signs and verifies tokens.
    #[arg(long, env = "AUTH_JWT_SECRET", default_value = DEV_JWT_SECRET, hide_default_value = true, hide_env_values = true)]
    pub jwt_secret: SecretString,
    /// Token lifetime in seconds.
    #[arg(long, env = "AUTH_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// Wrong passwords for one username within the window before its logins are refused (429).
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// Logins that did not succeed from one client address within the window, whatever the
    /// names, before that address's logins are refused (429). The address is the gateway's
    /// `Forwarded: for=` (the caller it saw), else the connection's peer.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_max_failures_per_address: u32,
    /// The window those failures are counted in, in seconds.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub login_failure_window_secs: u64,
}

impl Config {
    /// How long an issued token stays valid.
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }
}
