//! The tracing kit: every hop's telemetry in one module, and the only place in this workspace
//! where hop spans are made and trace context is injected or extracted.
//!
//! | hop | the one function | module | feature |
//! |---|---|---|---|
//! | process set-up: exporter, resource, sampler, propagators, JSON logs | [`init`] | [`telemetry`] | `otlp` |
//! | HTTP server: SERVER span, context extracted | `http_server::ServerLayer` | `http_server` | `http-server` |
//! | HTTP client: CLIENT span, context injected | `http_client::send` | `http_client` | `http-client` |
//! | NATS publish: PRODUCER span, context in the headers | `nats::publish` | `nats` | `nats` |
//! | NATS consume: CONSUMER span, context from the headers | `nats::consumer_span` | `nats` | `nats` |
//! | stored context: an outbox row's trace, continued later | [`stored::capture`], [`stored::continue_from`] | [`stored`] | — |
//! | database: CLIENT span per call | `db::query` | `db` | `sqlx` |
//!
//! [`propagation`] (W3C Trace Context Level 2 and Baggage, strict) needs no transport: with
//! `default-features = false` the kit depends on OpenTelemetry and `tracing` alone. Each feature
//! adds one hop and its library (`http-server`: axum, tower-http; `http-client`: reqwest;
//! `nats`: async-nats; `sqlx`: sqlx; `otlp`: the OTLP exporter and clap for its settings).
//!
//! Internal spans of a service's own work stay plain `tracing` spans where the work is.

#![deny(missing_docs)]

#[cfg(feature = "sqlx")]
pub mod db;
#[cfg(feature = "http-client")]
pub mod http_client;
#[cfg(feature = "http-server")]
pub mod http_server;
#[cfg(feature = "nats")]
pub mod nats;
pub mod propagation;
pub mod spans;
pub mod stored;
#[cfg(feature = "otlp")]
pub mod telemetry;

#[cfg(feature = "otlp")]
pub use telemetry::{TelemetryConfig, TelemetryGuard, init, shutdown_signal};
