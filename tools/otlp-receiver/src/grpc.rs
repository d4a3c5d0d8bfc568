//! OTLP/gRPC: the collector protocol's `TraceService/Export`, for exporters that speak gRPC (a
//! Collector's `otlp_grpc` exporter, an SDK set to `grpc`), gzip-compressed or not — served by
//! the same axum app as OTLP/HTTP, over HTTP/2 without TLS.

use crate::{SpanStore, model::records};
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use std::sync::Arc;
use tonic::{Request, Response, Status, codec::CompressionEncoding};

/// Stores what it is sent.
struct Export(Arc<SpanStore>);

#[tonic::async_trait]
impl TraceService for Export {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.insert(records(request.into_inner()));
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// The OTLP/gRPC trace service over `store`, as routes to merge into any axum app.
pub fn grpc_router(store: Arc<SpanStore>) -> Router {
    let service = TraceServiceServer::new(Export(store))
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    tonic::service::Routes::new(service).into_axum_router()
}
