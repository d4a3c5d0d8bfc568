//! A small OTLP/HTTP trace receiver with an in-memory span store.
//!
//! Real exporters post `ExportTraceServiceRequest` protobufs to `/v1/traces`; [`Receiver`] decodes
//! them with the official generated types into flat [`SpanRecord`]s that tests (and tools) can
//! query and wait on. It is the one OTLP receiver of the workspace.

mod model;
mod server;
mod store;

pub use model::{EventRecord, SpanKind, SpanRecord, StatusCode, decode_export_request};
pub use server::{Receiver, router};
pub use store::SpanStore;
