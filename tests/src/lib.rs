//! Helpers for the end-to-end tests: build and start the six real service binaries on free ports,
//! pointed at an in-process OTLP receiver, and query the traces they export.

mod stack;
mod trace;

pub use stack::{Reply, SERVICES, TestStack};
pub use trace::Trace;
