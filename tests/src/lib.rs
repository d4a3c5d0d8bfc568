//! Helpers for the end-to-end tests: build and start the six real service binaries on free ports,
//! pointed at an in-process OTLP receiver (or the real Collector and Jaeger) and a real
//! `nats-server -js`, and query the traces they export.

mod backends;
mod nats;
mod process;
mod proxy;
mod stack;
mod trace;

pub use ::stack::dotenv;
pub use backends::{Backend, Collector, Jaeger};
pub use nats::NatsServer;
pub use proxy::DelayingProxy;
pub use stack::{Reply, SERVICES, TestStack, binary};
pub use trace::Trace;
