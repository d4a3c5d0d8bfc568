//! The one place OpenTelemetry is configured for every service in this workspace.
//!
//! - [`init`] sets up the OTLP/HTTP exporter, resource, sampler, W3C propagators and JSON logs,
//!   and returns a [`TelemetryGuard`] that flushes queued spans when dropped.
//! - [`server::instrument`] wraps a router in SERVER spans joined to the caller's trace
//!   ([`server::instrument_edge`] at the public edge, which trusts only some callers' context).
//! - [`client::send`] makes a CLIENT span and injects the trace context into the request.
//! - [`messaging`] carries the trace context in NATS headers and in stored outbox rows.
//!
//! What services share that is not telemetry (errors, pools, breakers, serving) is in
//! `service-kit`.

pub mod baggage;
pub mod client;
pub mod limits;
mod logs;
pub mod messaging;
pub mod propagation;
pub mod server;
mod settings;
pub mod spans;
mod telemetry;
pub mod trace_context;

pub use limits::{DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, TruncatingProcessor};
pub use settings::{SamplerKind, Settings};
pub use telemetry::{InitError, TelemetryGuard, bridge, init, resource, sampler, tracer_provider};
