//! Propagation, sampling and a service's server stack as `service_kit::server::app` builds it
//! (SERVER spans from shared-tracing, JSON errors from the kit), and a downstream call resent
//! while its callee restarts, checked against the SDK's in-memory exporter.

use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    trace::{SpanId, SpanKind, Status, TraceContextExt, TraceId, TracerProvider as _},
};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor, SpanData,
};
use service_kit::server;
use shared_tracing::{
    http_client, http_server, propagation,
    telemetry::{SamplerKind, Settings, bridge, tracer_provider},
};
use tower::ServiceExt;
use tracing::subscriber::DefaultGuard;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

const PARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// A provider with `ratio` root sampling and an in-memory exporter, installed as this thread's
/// default subscriber for as long as the returned guard lives.
struct Harness {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: DefaultGuard,
}

impl Harness {
    fn new(ratio: f64) -> Self {
        Self::with_sampler(SamplerKind::ParentBasedTraceIdRatio, ratio)
    }

    fn with_sampler(sampler: SamplerKind, ratio: f64) -> Self {
        propagation::install_propagators();
        let mut settings = Settings::from_lookup("test-service", |_| None);
        settings.sampler = sampler;
        settings.sample_ratio = ratio;
        let exporter = InMemorySpanExporter::default();
        let provider = tracer_provider(
            &settings,
            "0.0.0",
            SimpleSpanProcessor::new(exporter.clone()),
        );
        let layer = bridge(provider.tracer("test"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Harness {
            exporter,
            provider,
            _guard: guard,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().expect("flush");
        self.exporter.get_finished_spans().expect("spans")
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn app() -> Router {
    server::app(
        Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .route("/boom", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
            .route("/healthz", get(|| async { "ok" })),
        &server::Options::off(),
    )
}

async fn call(uri: &str, traceparent: Option<&str>) -> axum::response::Response {
    let mut request = Request::get(uri).header("host", "localhost:8080");
    if let Some(value) = traceparent {
        request = request.header("traceparent", value);
    }
    app()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[test]
fn inject_then_extract_round_trips_the_span_and_baggage() {
    let _harness = Harness::new(1.0);
    let span = tracing::info_span!("outgoing");
    let context = span
        .context()
        .with_baggage(vec![KeyValue::new("tenant", "acme")]);
    let mut headers = http::HeaderMap::new();
    http_client::inject(&context, &mut headers);
    assert!(headers.contains_key("traceparent"));
    assert_eq!(headers["baggage"], "tenant=acme");

    let extracted = http_server::extract(&headers);
    let (sent, received) = (
        context.span().span_context().clone(),
        extracted.span().span_context().clone(),
    );
    assert_eq!(received.trace_id(), sent.trace_id());
    assert_eq!(received.span_id(), sent.span_id());
    assert!(received.is_sampled());
    assert!(received.is_remote());
    assert_eq!(
        extracted.baggage().get("tenant").map(|v| v.to_string()),
        Some("acme".into())
    );
}

#[tokio::test]
async fn server_span_joins_the_callers_trace_with_http_attributes() {
    let harness = Harness::new(1.0);
    let response = call(
        "/items/42",
        Some(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    // The span ends when the response body is done, as it does when hyper sends it.
    drop(response);

    let spans = harness.spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name, "GET /items/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(PARENT_TRACE).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_SPAN).unwrap());
    assert!(span.parent_span_is_remote);
    assert_eq!(
        attribute(span, "http.route").map(|v| v.to_string()),
        Some("/items/{id}".into())
    );
    assert_eq!(
        attribute(span, "url.path").map(|v| v.to_string()),
        Some("/items/42".into())
    );
    assert_eq!(
        attribute(span, "http.request.method").map(|v| v.to_string()),
        Some("GET".into())
    );
    assert_eq!(
        attribute(span, "http.response.status_code"),
        Some(&opentelemetry::Value::I64(200))
    );
    assert_eq!(
        attribute(span, "server.address").map(|v| v.to_string()),
        Some("localhost".into())
    );
    assert_eq!(
        attribute(span, "server.port"),
        Some(&opentelemetry::Value::I64(8080))
    );
    // The semantic conventions' form, not http::Version's "HTTP/1.1".
    assert_eq!(
        attribute(span, "network.protocol.version").map(|v| v.to_string()),
        Some("1.1".into())
    );
    assert_eq!(span.status, Status::Unset);

    assert_eq!(
        traceresponse,
        format!("00-{PARENT_TRACE}-{}-01", span.span_context.span_id())
    );
}

#[tokio::test]
async fn remote_unsampled_parent_is_honoured_even_when_roots_are_always_sampled() {
    let harness = Harness::new(1.0);
    let response = call(
        "/items/1",
        Some(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-00")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        harness.spans().is_empty(),
        "an unsampled parent must not be recorded"
    );
    // The decision travels on: the traceresponse says "not sampled".
    assert!(
        response.headers()["traceresponse"]
            .to_str()
            .unwrap()
            .ends_with("-00")
    );
}

#[tokio::test]
async fn remote_sampled_parent_is_honoured_even_when_roots_are_never_sampled() {
    let harness = Harness::new(0.0);
    call(
        "/items/1",
        Some(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01")),
    )
    .await;
    assert_eq!(harness.spans().len(), 1);
    // ...while a root request is dropped at ratio 0.
    call("/items/2", None).await;
    assert_eq!(harness.spans().len(), 1);
}

#[tokio::test]
async fn otel_traces_sampler_can_name_samplers_that_ignore_the_parent() {
    let unsampled_parent = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-00");
    // traceidratio at 1.0 records the span although the caller did not sample its trace.
    let harness = Harness::with_sampler(SamplerKind::TraceIdRatio, 1.0);
    call("/items/1", Some(&unsampled_parent)).await;
    let spans = harness.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].span_context.trace_id(),
        TraceId::from_hex(PARENT_TRACE).unwrap(),
        "still the caller's trace"
    );
    drop(harness);
    // always_off records nothing, not even a sampled caller's span.
    let harness = Harness::with_sampler(SamplerKind::AlwaysOff, 1.0);
    call(
        "/items/1",
        Some(&format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01")),
    )
    .await;
    assert!(harness.spans().is_empty());
}

#[tokio::test]
async fn malformed_traceparent_starts_a_new_root_and_the_request_succeeds() {
    let harness = Harness::new(1.0);
    for bad in [
        "garbage",
        "00-xyz-00f067aa0ba902b7-01",
        &format!("00-{PARENT_TRACE}-0000000000000000-01"),
        &format!("00-00000000000000000000000000000000-{PARENT_SPAN}-01"),
        &format!("ff-{PARENT_TRACE}-{PARENT_SPAN}-01"),
    ] {
        let response = call("/items/7", Some(bad)).await;
        assert_eq!(response.status(), StatusCode::OK, "traceparent {bad:?}");
    }
    let spans = harness.spans();
    assert_eq!(spans.len(), 5);
    for span in &spans {
        assert_eq!(
            span.parent_span_id,
            SpanId::INVALID,
            "{} must be a root",
            span.name
        );
        assert_ne!(
            span.span_context.trace_id(),
            TraceId::from_hex(PARENT_TRACE).unwrap()
        );
    }
}

#[tokio::test]
async fn server_errors_mark_the_span_failed_and_unknown_paths_get_a_json_404() {
    let harness = Harness::new(1.0);
    assert_eq!(
        call("/boom", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let response = call("/nowhere", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "no such endpoint");
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));

    let spans = harness.spans();
    let boom = spans
        .iter()
        .find(|s| s.name == "GET /boom")
        .expect("boom span");
    assert!(matches!(boom.status, Status::Error { .. }));
    let missing = spans
        .iter()
        .find(|s| s.name == "GET")
        .expect("fallback span is named by method only");
    assert_eq!(
        missing.status,
        Status::Unset,
        "a 404 is the caller's error, not the server's"
    );
    assert_eq!(
        body["trace_id"],
        missing.span_context.trace_id().to_string()
    );
}

#[tokio::test]
async fn error_answers_no_handler_wrote_get_the_json_error_body() {
    let harness = Harness::new(1.0);
    let app = server::app(
        Router::new()
            .route("/items/{id}", get(|| async { "ok" }))
            .route(
                "/echo",
                axum::routing::post(|body: axum::body::Bytes| async move { body })
                    .layer(axum::extract::DefaultBodyLimit::max(8)),
            )
            .route(
                "/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "a plain-text complaint") }),
            ),
        &server::Options::off(),
    );
    let send = |method: &str, uri: &str, body: &'static str| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        app.clone().oneshot(request)
    };
    let json = |response: axum::response::Response| async move {
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };

    let response = send("DELETE", "/items/1", "").await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD", "Allow is kept");
    let body = json(response).await;
    assert_eq!(body["error"], "Method Not Allowed");
    let trace_id = body["trace_id"].as_str().expect("a trace id").to_owned();

    let response = send("POST", "/echo", "more than eight bytes")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json(response).await["error"],
        "Failed to buffer the request body: length limit exceeded"
    );
    let response = send("GET", "/plain", "").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "a plain-text complaint");
    // Successful answers are left alone.
    let response = send("POST", "/echo", "tiny").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 64)
        .await
        .unwrap();
    assert_eq!(&body[..], b"tiny");

    let spans = harness.spans();
    let method_not_allowed = spans
        .iter()
        .find(|s| s.name == "DELETE /items/{id}")
        .expect("the 405's span");
    assert_eq!(
        method_not_allowed.span_context.trace_id().to_string(),
        trace_id
    );
}

#[test]
fn current_trace_id_is_none_outside_a_span() {
    let _harness = Harness::new(1.0);
    assert_eq!(propagation::current_trace_id(), None);
    let span = tracing::info_span!("work");
    let inside = span.in_scope(propagation::current_trace_id);
    assert_eq!(inside.map(|id| id.len()), Some(32));
    assert!(!Context::current().span().span_context().is_valid());
}

#[tokio::test]
async fn health_probes_are_answered_but_not_traced() {
    let harness = Harness::new(1.0);
    let response = call("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    assert!(harness.spans().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_resent_until_the_callee_is_back_each_attempt_a_client_span() {
    let harness = Harness::new(1.0);
    // A port no one listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let downstream = service_kit::Downstream::with_circuit_breaker(
        "inventory-service",
        format!("http://127.0.0.1:{port}"),
        std::time::Duration::from_secs(2),
        service_kit::BreakerConfig {
            failure_threshold: 1,
            open_for: std::time::Duration::from_secs(60),
        },
        &service_kit::Identity::anonymous("order-service"),
    );
    // The callee comes up 120 ms later, as a restarted service does; the resends wait 50, 100
    // and 200 ms.
    let callee = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the callee");
        let router = Router::new().route("/api/stock", get(|| async { "ok" }));
        axum::serve(listener, router).await.expect("serving");
    });
    let request = || downstream.request(reqwest::Method::GET, "/api/stock");
    let response = tracing::Instrument::instrument(
        downstream.send("/api/stock", request),
        tracing::info_span!("caller"),
    )
    .await
    .expect("answered once the callee is back");
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    // One failure would have opened it: it learnt only the call's outcome.
    assert_eq!(
        downstream.circuit_state(),
        Some(service_kit::CircuitState::Closed)
    );
    callee.abort();

    let mut calls: Vec<SpanData> = harness
        .spans()
        .into_iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    calls.sort_by_key(|s| s.start_time);
    assert!(calls.len() >= 2, "refused at least once: {calls:#?}");
    let (last, refused) = calls.split_last().unwrap();
    for (resend, call) in refused.iter().enumerate() {
        assert_eq!(
            attribute(call, "error.type"),
            Some(&"connection_error".into())
        );
        assert!(call.events.iter().any(|e| e.name == "exception"));
        let count = attribute(call, "http.request.resend_count");
        match resend {
            0 => assert_eq!(count, None),
            n => assert_eq!(count, Some(&opentelemetry::Value::I64(n as i64))),
        }
        assert_eq!(call.span_context.trace_id(), last.span_context.trace_id());
    }
    assert_eq!(
        attribute(last, "http.response.status_code"),
        Some(&opentelemetry::Value::I64(200))
    );
    assert_eq!(
        attribute(last, "http.request.resend_count"),
        Some(&opentelemetry::Value::I64(refused.len() as i64))
    );
    assert_eq!(last.status, Status::Unset);
}

/// A callee that reads the first request and closes the connection without answering, as one
/// shutting down does with a kept-alive connection, then answers every later one; returns its
/// address and how many requests it has read.
async fn closes_the_first_connection() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = vec![0; 4096];
            let _ = socket.read(&mut head).await;
            if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        }
    });
    (address, requests)
}

#[tokio::test]
async fn a_connection_closed_before_the_answer_is_resent_only_for_an_idempotent_request() {
    use std::sync::atomic::Ordering;
    let harness = Harness::new(1.0);
    let downstream = |address: std::net::SocketAddr| {
        service_kit::Downstream::new(
            "inventory-service",
            format!("http://{address}"),
            std::time::Duration::from_secs(2),
            &service_kit::Identity::anonymous("order-service"),
        )
    };

    // GET: the request may have reached the callee, but sending it again changes nothing.
    let (address, requests) = closes_the_first_connection().await;
    let inventory = downstream(address);
    let request = || inventory.request(reqwest::Method::GET, "/api/stock/widget");
    let response = inventory
        .send("/api/stock/{sku}", request)
        .await
        .expect("answered on the resend");
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    let spans = harness.spans();
    let mut gets: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "GET /api/stock/{sku}")
        .collect();
    gets.sort_by_key(|s| s.start_time);
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(
        attribute(gets[0], "error.type"),
        Some(&"transport_error".into())
    );
    assert_eq!(
        attribute(gets[1], "http.request.resend_count"),
        Some(&opentelemetry::Value::I64(1))
    );

    // POST: it may have been acted on, so it is not sent again: the caller gets the error.
    let (address, requests) = closes_the_first_connection().await;
    let inventory = downstream(address);
    let request = || inventory.request(reqwest::Method::POST, "/api/reservations");
    let error = inventory
        .send("/api/reservations", request)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "transport_error", "{error:?}");
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let posts = harness
        .spans()
        .into_iter()
        .filter(|s| s.name == "POST /api/reservations")
        .count();
    assert_eq!(posts, 1);

    // POST with an Idempotency-Key: the callee answers a repeat as it answered the first, so it
    // is sent again, once.
    let (address, requests) = closes_the_first_connection().await;
    let inventory = downstream(address);
    let request = || {
        inventory
            .request(reqwest::Method::POST, "/api/reservations")
            .header(service_kit::client::IDEMPOTENCY_KEY, "order-1:reserve")
    };
    let response = inventory
        .send("/api/reservations", request)
        .await
        .expect("answered on the resend");
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    let mut keyed: Vec<SpanData> = harness
        .spans()
        .into_iter()
        .filter(|s| s.name == "POST /api/reservations")
        .collect();
    keyed.sort_by_key(|s| s.start_time);
    assert_eq!(keyed.len(), 3, "one unkeyed, two keyed: {keyed:#?}");
    assert_eq!(
        attribute(&keyed[2], "http.request.resend_count"),
        Some(&opentelemetry::Value::I64(1))
    );
}
