//! What every service in this workspace shares besides telemetry: the JSON error body and
//! extractors, the downstream client with its circuit breaker, SQLite pools, the events and their
//! consumers, per-request faults, bearer tokens, and serving until SIGTERM.
//!
//! - [`server::app`] puts a router behind the shared layers and its SERVER spans; [`serve`] runs
//!   it with a header-read timeout and a connection cap; an [`Application`] is a service bound,
//!   with its background tasks, until stopped.
//! - [`Downstream`] calls another service through a CLIENT span and, optionally, a breaker.
//! - [`ApiError`], [`Json`] and [`Path`] give every error the same body: `{"error", "trace_id"}`.
//! - [`db::connect`] opens a SQLite pool; [`db::query`] makes CLIENT spans for its calls.
//! - [`events`] defines the events services exchange over NATS JetStream, publishes them and
//!   runs durable consumers for them, with the trace context in the message headers.
//! - The global allocator is jemalloc (the `ALLOCATOR` static below).

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
pub mod server;
mod tracecontext_test;

pub use application::Application;
pub use breaker::{BreakerArgs, BreakerConfig, CircuitState};
pub use client::{ClientError, Downstream, TracedResponse};
pub use error::{ApiError, EXCERPT_CHARS, Json, Path, excerpt};
pub use faults::Faults;
pub use server::{ServerArgs, serve, serve_until, shutdown_signal};

/// Every binary linking service-kit (the six services, and the tools and tests that start them
/// in-process) allocates with jemalloc. Measured with the load tool against glibc's malloc: the
/// services' memory about halves (auth-service's argon2 blocks went back to the system instead
/// of staying in per-thread arenas: 125 MiB → 31 MiB) at the same or lower CPU per request.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
