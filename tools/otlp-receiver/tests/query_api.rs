//! Jaeger's query API over the store, checked endpoint by endpoint against what the real Jaeger v2
//! answers for the same spans (`tests/fixtures/jaeger-*.json`, captured from it and checked
//! against it by the e2e test `viewer_vs_jaeger`). Spans go in as OTLP/JSON.

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Request, StatusCode},
};
use otlp_receiver::{SpanStore, comparable, query_router, router};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A fixture of a Jaeger answer, in [`comparable`] form.
fn jaeger_fixture(name: &str) -> Value {
    comparable(&serde_json::from_str(&fixture(name)).unwrap())
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The receiver and the query API over one store holding the two fixture traces.
async fn app() -> Router {
    let store = Arc::new(SpanStore::default());
    let app = router(store.clone()).merge(query_router(store));
    let export = Request::post("/v1/traces")
        .header("content-type", "application/json")
        .body(Body::from(fixture("otlp-two-traces.json")))
        .unwrap();
    let response = app.clone().oneshot(export).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn trace_ids(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn services_and_operations_list_what_was_received() {
    let app = app().await;
    let (status, body) = get(&app, "/api/services").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(comparable(&body), jaeger_fixture("jaeger-services.json"));
    let (_, body) = get(&app, "/api/services/gateway/operations").await;
    assert_eq!(comparable(&body), jaeger_fixture("jaeger-operations.json"));
}

#[tokio::test]
async fn a_trace_is_served_in_jaegers_model() {
    let app = app().await;
    let (status, body) = get(&app, &format!("/api/traces/{A}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(comparable(&body), jaeger_fixture("jaeger-trace.json"));
    let (status, body) = get(&app, "/api/traces/0123456789abcdef0123456789abcdef").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], 404);
}

#[tokio::test]
async fn search_filters_by_service_operation_tags_duration_and_time() {
    let app = app().await;
    let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let cases: [(&str, Vec<&str>); 9] = [
        ("service=gateway", vec![b, A]),
        ("service=order-service", vec![A]),
        (
            "service=gateway&operation=GET%20%2Fapi%2Finventory%2F%7Bsku%7D",
            vec![b],
        ),
        ("tags=%7B%22error%22%3A%22true%22%7D", vec![A]),
        (
            "service=gateway&tags=%7B%22error%22%3A%22true%22%7D",
            vec![],
        ),
        ("tags=%7B%22sku%22%3A%22widget%22%7D", vec![b]),
        ("service=gateway&minDuration=500ms", vec![A]),
        ("service=gateway&maxDuration=0.05s", vec![b]),
        ("service=gateway&limit=1", vec![b]),
    ];
    for (query, expected) in cases {
        let (status, body) = get(&app, &format!("/api/traces?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(trace_ids(&body), expected, "{query}");
    }
    // The fixture is from 2023: a one-hour lookback finds nothing, a custom window finds it.
    let (_, body) = get(&app, "/api/traces?service=gateway&lookback=1h").await;
    assert!(trace_ids(&body).is_empty());
    let window = "lookback=custom&start=1700000000000000&end=1700000050000000";
    let (_, body) = get(&app, &format!("/api/traces?service=gateway&{window}")).await;
    assert_eq!(trace_ids(&body), vec![A]);
    let (status, body) = get(&app, "/api/traces?minDuration=soon").await;
    assert_eq!(
        (status, body["errors"][0]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(400))
    );
}

#[tokio::test]
async fn dependencies_count_calls_between_services() {
    let app = app().await;
    let (_, body) = get(
        &app,
        "/api/dependencies?endTs=1700000200000&lookback=3600000",
    )
    .await;
    assert_eq!(
        comparable(&body),
        jaeger_fixture("jaeger-dependencies.json")
    );
    let (_, body) = get(
        &app,
        "/api/dependencies?endTs=1600000000000&lookback=3600000",
    )
    .await;
    assert_eq!(body["data"], json!([]));
}

#[tokio::test]
async fn a_gzip_export_is_accepted_and_an_unknown_encoding_refused() {
    use std::io::Write;
    let store = Arc::new(SpanStore::default());
    let app = router(store.clone()).merge(query_router(store));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(fixture("otlp-two-traces.json").as_bytes())
        .unwrap();
    let export = |encoding: &str, body: Vec<u8>| {
        Request::post("/v1/traces")
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(Body::from(body))
            .unwrap()
    };
    let response = app
        .clone()
        .oneshot(export("gzip", gzip.finish().unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = get(&app, &format!("/api/traces/{A}")).await;
    assert_eq!(
        trace_ids(&body),
        [A],
        "the gzip body was decoded and stored"
    );

    let response = app
        .clone()
        .oneshot(export("zstd", b"whatever".to_vec()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
