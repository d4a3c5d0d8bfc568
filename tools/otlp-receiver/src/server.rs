//! The OTLP/HTTP endpoint: `POST /v1/traces` with `application/x-protobuf` or `application/json`
//! bodies, plain or with `Content-Encoding: gzip` (what the Collector's `otlp_http` exporter and
//! most SDKs send when compression is on) or `deflate` (which Jaeger's OTLP receiver takes too).

use crate::{SpanStore, decode_export_request, decode_export_request_json};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::IntoResponse,
    routing::post,
};
use std::{net::SocketAddr, sync::Arc};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::decompression::RequestDecompressionLayer;

/// The OTLP/HTTP trace route over `store`, to mount in any axum app. A body in an encoding
/// other than gzip, deflate or identity is refused with 415.
pub fn router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/v1/traces", post(export_traces))
        .layer(RequestDecompressionLayer::new())
        .with_state(store)
}

async fn export_traces(
    State(store): State<Arc<SpanStore>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let decoded = if content_type.starts_with("application/x-protobuf") {
        decode_export_request(&body).map_err(|e| e.to_string())
    } else if content_type.starts_with("application/json") {
        decode_export_request_json(&body).map_err(|e| e.to_string())
    } else {
        let message = "use application/x-protobuf or application/json";
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response();
    };
    match decoded {
        Ok(spans) => {
            store.insert(spans);
            // An empty body is the protobuf encoding of an empty ExportTraceServiceResponse;
            // `{}` is its JSON encoding.
            if content_type.starts_with("application/json") {
                (
                    [(CONTENT_TYPE, "application/json")],
                    Bytes::from_static(b"{}"),
                )
                    .into_response()
            } else {
                ([(CONTENT_TYPE, "application/x-protobuf")], Bytes::new()).into_response()
            }
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            format!("invalid OTLP payload: {error}"),
        )
            .into_response(),
    }
}

/// A running receiver: an HTTP server on its own task, storing what it receives over OTLP/HTTP
/// and OTLP/gRPC and answering Jaeger's query API, all on the same port.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    store: Arc<SpanStore>,
    task: JoinHandle<()>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Binds `addr` (port 0 picks a free port) and starts serving on the current runtime.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, Arc::new(SpanStore::default())).await
    }

    /// [`Self::start`], storing into `store` (e.g. one with a larger bound).
    pub async fn start_with(addr: SocketAddr, store: Arc<SpanStore>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = router(store.clone())
            .merge(crate::grpc_router(store.clone()))
            .merge(crate::viewer_router(store.clone()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "OTLP receiver stopped");
            }
        });
        Ok(Self {
            addr,
            store,
            task,
            shutdown: Some(shutdown),
        })
    }

    /// Goes away as a restarted collector does: stops accepting, lets the exports in flight
    /// finish, closes every connection, and returns once the port is free — exporters then find
    /// nothing listening until a receiver is started on the same address again (with the store
    /// this returns, to keep counting).
    pub async fn stop(mut self) -> Arc<SpanStore> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
        self.store.clone()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL of the Jaeger-compatible query API.
    pub fn query_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What has been received.
    pub fn store(&self) -> &Arc<SpanStore> {
        &self.store
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
