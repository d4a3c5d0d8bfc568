//! What every service in this workspace shares besides telemetry: the JSON error body and
//! extractors, the downstream client with its circuit breaker, SQLite pools, per-request faults,
//! bearer tokens, and serving until SIGTERM.
//!
//! - [`server::app`] puts a router behind the shared layers and its SERVER spans; [`serve`] runs
//!   it with a header-read timeout and a connection cap.
//! - [`Downstream`] calls another service through a CLIENT span and, optionally, a breaker.
//! - [`ApiError`], [`Json`] and [`Path`] give every error the same body: `{"error", "trace_id"}`.
//! - [`db::connect`] opens a SQLite pool; [`db::query`] makes CLIENT spans for its calls.

pub mod bearer;
pub mod breaker;
pub mod client;
pub mod config;
pub mod db;
mod error;
pub mod faults;
pub mod server;

pub use breaker::{BreakerArgs, BreakerConfig, CircuitState};
pub use client::{ClientError, Downstream, TracedResponse};
pub use error::{ApiError, EXCERPT_CHARS, Json, Path, excerpt};
pub use faults::Faults;
pub use server::{ServerArgs, serve, shutdown_signal};
