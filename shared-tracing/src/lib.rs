//! The one place OpenTelemetry is configured for every service in this workspace.
//!
//! - [`init`] sets up the OTLP/HTTP exporter, resource, sampler, W3C propagators and JSON logs,
//!   and returns a [`TelemetryGuard`] that flushes queued spans when dropped.
//! - [`server::instrument`] wraps a router in SERVER spans joined to the caller's trace, and
//!   honours per-request faults named in W3C baggage (`fault.<service>=error|unavailable|slow:<ms>|drop`).
//! - [`client::Downstream`] makes CLIENT spans and injects the trace context into requests.
//! - [`messaging`] carries the trace context in NATS headers and in stored outbox rows.
//! - [`db::connect`] opens a SQLite pool; [`db::query`] makes CLIENT spans for its calls.
//! - [`ApiError`], [`Json`] and [`Path`] give every error the same body: `{"error", "trace_id"}`.

pub mod breaker;
pub mod client;
pub mod config;
pub mod db;
mod error;
mod limits;
mod logs;
pub mod messaging;
pub mod propagation;
pub mod server;
mod settings;
pub mod spans;
mod telemetry;

pub use breaker::{BreakerArgs, BreakerConfig, CircuitState};
pub use client::{ClientError, Downstream, TracedResponse};
pub use error::{ApiError, EXCERPT_CHARS, Json, Path, excerpt};
pub use limits::{DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, TruncatingProcessor};
pub use server::{ServerArgs, serve, shutdown_signal};
pub use settings::{SamplerKind, Settings};
pub use telemetry::{InitError, TelemetryGuard, init, resource, sampler, tracer_provider};
