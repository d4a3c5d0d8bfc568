//! A small OTLP trace receiver (HTTP, and gRPC on the same port) with an in-memory span store.
//!
//! Real exporters post `ExportTraceServiceRequest` protobufs to `/v1/traces`; [`Receiver`] decodes
//! them with the official generated types into flat [`SpanRecord`]s that tests (and tools) can
//! query and wait on, and serves them back through Jaeger's HTTP query API ([`query_router`]:
//! `/api/*` and `/api/v3/*`, RED metrics at `/api/metrics/*` and trace quality at
//! `/api/quality`) and
//! a web UI ([`ui_router`]) — together the embedded trace viewer ([`viewer_router`]) — and
//! Jaeger's remote sampling endpoint over a strategies file ([`sampling_router`]).
//! It is the one OTLP receiver of the workspace.

mod api_v3;
mod grpc;
mod jaeger;
mod metrics;
mod model;
mod quality;
mod sampling;
mod server;
mod store;
mod ui;

pub use grpc::grpc_router;
pub use jaeger::{checked_trace, comparable, query_router, to_jaeger_trace};
pub use model::{
    EventRecord, LinkRecord, SpanKind, SpanRecord, StatusCode, decode_export_request,
    decode_export_request_json,
};
pub use sampling::{DEFAULT_SAMPLING_PROBABILITY, Strategies, StrategiesFile, sampling_router};
pub use server::{Receiver, router};
pub use store::{DEFAULT_MAX_SPANS, SpanStore};
pub use ui::ui_router;

/// The trace viewer: Jaeger's query API and the web UI over `store`, for one port (16686).
pub fn viewer_router(store: std::sync::Arc<SpanStore>) -> axum::Router {
    query_router(store).merge(ui_router())
}
