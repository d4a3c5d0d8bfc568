//! What every service shares besides telemetry — plumbing only: the JSON error body and
//! extractors, the downstream client with its circuit breaker, `Proxy-Status` and resends,
//! serving, per-request faults, events over NATS JetStream, SQLite pools and `/healthz`. Every
//! span of a hop is made by the tracing kit, `shared-tracing`; what crosses a process boundary
//! is declared in `contracts`.
//!
//! - [`server::app`] puts a router behind the shared layers and its SERVER spans; [`serve`] runs
//!   it with a header-read timeout and a connection cap; an [`Application`] is a service bound,
//!   with its background tasks, until stopped.
//! - [`Downstream`] calls another service through a CLIENT span and, optionally, a breaker,
//!   signed with the caller's [`Identity`]; [`identity::guard`] admits a route's callers by the
//!   service's [`Access`] table.
//! - [`ApiError`], [`Json`] and [`Path`] give every error the same body, [`ErrorBody`].
//! - [`events`] publishes events and runs durable consumers for them.

mod application;
pub mod bearer;
pub mod breaker;
pub mod client;
pub mod config;
mod connection;
pub mod db;
mod error;
pub mod events;
pub mod faults;
pub mod health;
pub mod idempotency;
pub mod identity;
mod serve;
pub mod server;
mod trace_context_harness;

pub use application::{Application, Stopping};
pub use breaker::{BreakerArgs, BreakerConfig, CircuitState};
pub use client::{ClientError, Downstream, TracedResponse};
pub use config::DevHooks;
pub use error::{ApiError, EXCERPT_CHARS, ErrorBody, Json, Path, excerpt};
pub use faults::Faults;
pub use health::Health;
pub use identity::{Access, Identity, IdentityArgs};
pub use serve::{ServerArgs, serve, serve_until};
pub use shared_tracing::telemetry::shutdown_signal;
