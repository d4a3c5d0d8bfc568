//! W3C Trace Context Level 2 through the real binaries, the way the official harness
//! (`w3c/trace-context` `test/test.py`) drives a service: headers sent to `POST
//! /tracecontext/test`, and the headers the service sends on to a callback recorded here. (The
//! harness itself passes all 41 cases at SPEC_LEVEL=2 STRICT_LEVEL=2 against this endpoint;
//! docs/tracing-pitfalls.md says how to run it. Its cases one by one are unit tests of
//! `shared_tracing::propagation::trace_context`.)

use axum::{Router, extract::Path, http::HeaderMap, routing::post};
use e2e::TestStack;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// A stand-in for the harness's callback server: the headers of every call, by path.
#[derive(Clone, Default)]
struct Callbacks(Arc<Mutex<HashMap<String, HeaderMap>>>);

impl Callbacks {
    async fn serve(&self) -> String {
        let seen = self.clone();
        let app = Router::new().route(
            "/{id}",
            post(
                move |Path(id): Path<String>, headers: HeaderMap| async move {
                    seen.0.lock().unwrap().insert(id, headers);
                    "ok"
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    fn header(&self, id: &str, name: &str) -> Vec<String> {
        self.0.lock().unwrap()[id]
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

const ID: &str = "12345678901234567890123456789012";

#[tokio::test]
async fn services_propagate_trace_context_level_2_to_the_letter() {
    let stack = TestStack::start_with(&[("TRACECONTEXT_TEST_ENDPOINT", "true")]).await;
    let callbacks = Callbacks::default();
    let harness = callbacks.serve().await;
    let http = reqwest::Client::new();
    // The harness's request: headers for the service, and the callback it must make.
    let send = |service: &'static str, id: &'static str, headers: Vec<(&'static str, String)>| {
        let mut request = http
            .post(format!("{}/tracecontext/test", stack.url(service)))
            .json(&json!([{ "url": format!("{harness}/{id}"), "arguments": [] }]));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let traceparent = |id: &str| {
        let values = callbacks.header(id, "traceparent");
        assert_eq!(values.len(), 1, "{values:?}");
        values[0].split('-').map(str::to_owned).collect::<Vec<_>>()
    };

    for service in ["gateway", "order-service", "inventory-service"] {
        // A duplicated traceparent: neither is continued.
        let answer = send(
            service,
            "duplicated",
            vec![
                ("traceparent", format!("00-{ID}-1234567890123456-01")),
                (
                    "traceparent",
                    "00-12345678901234567890123456789011-1234567890123456-01".into(),
                ),
            ],
        )
        .await
        .unwrap();
        assert_eq!(answer.status(), 200, "{service}");
        let sent = traceparent("duplicated");
        assert_ne!(sent[1], ID, "{service}");
        assert_ne!(sent[1], "12345678901234567890123456789011", "{service}");

        // The random flag goes through an unsampled span; the trace is continued.
        send(
            service,
            "random",
            vec![("traceparent", format!("00-{ID}-1234567890123456-02"))],
        )
        .await
        .unwrap();
        let sent = traceparent("random");
        assert_eq!(sent[1], ID, "{service}");
        assert_ne!(sent[2], "1234567890123456", "{service}");
        let flags = u8::from_str_radix(&sent[3], 16).unwrap();
        assert_eq!(flags & 0x02, 0x02, "{service}: {sent:?}");

        // Repeated tracestate headers, combined in order, with Level 2 keys the SDK refuses.
        send(
            service,
            "state",
            vec![
                ("traceparent", format!("00-{ID}-1234567890123456-01")),
                ("tracestate", "foo=1,foo@@bar=2".into()),
                ("tracestate", "t@vvvvvvvvvvvvvvv=3".into()),
                ("tracestate", "".into()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(
            callbacks.header("state", "tracestate"),
            ["foo=1,foo@@bar=2,t@vvvvvvvvvvvvvvv=3"],
            "{service}"
        );

        // A malformed member drops the whole tracestate, and no empty header is sent.
        send(
            service,
            "malformed",
            vec![
                ("traceparent", format!("00-{ID}-1234567890123456-01")),
                ("tracestate", "foo=1,@bar=2".into()),
            ],
        )
        .await
        .unwrap();
        assert!(
            callbacks.header("malformed", "tracestate").is_empty(),
            "{service}"
        );
        assert_eq!(traceparent("malformed")[1], ID, "{service}");
    }

    // Only loopback callbacks: the endpoint cannot be made to call anywhere else.
    let refused = http
        .post(format!("{}/tracecontext/test", stack.url("gateway")))
        .json(&json!([{ "url": "http://169.254.169.254/latest/meta-data", "arguments": [] }]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(body["trace_id"].is_string(), "{body}");
}

#[tokio::test]
async fn the_test_endpoint_is_off_unless_asked_for_and_never_in_production() {
    let stack = TestStack::start_with(&[
        ("TRACECONTEXT_TEST_ENDPOINT", "true"),
        ("ENVIRONMENT", "production"),
        ("TRACE_CONTEXT_TRUSTED_CALLERS", "*"),
    ])
    .await;
    let http = reqwest::Client::new();
    for service in ["gateway", "payment-service"] {
        let answer = http
            .post(format!("{}/tracecontext/test", stack.url(service)))
            .json(&json!([]))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{service}");
    }
    drop(stack);
    let stack = TestStack::start().await;
    let answer = http
        .post(format!("{}/tracecontext/test", stack.url("gateway")))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404, "off by default");
}
