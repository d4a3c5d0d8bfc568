//! The OpenTelemetry semantic conventions, span by span: every span of an order's trace (both
//! async hops included) and of orders that fail — a declined card, a payment-service that answers
//! 500, a dead user-service, a database call that fails — carries what its kind requires.

use e2e::cards::{APPROVED, DECLINED, PROCESSING_ERROR};
use e2e::{TestStack, Trace};
use otlp_receiver::{SpanKind, SpanRecord, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn text(value: &Value) -> bool {
    value.as_str().is_some_and(|s| !s.is_empty())
}

fn int(value: &Value) -> bool {
    value.is_i64()
}

/// What `span` lacks of the conventions for its kind; empty when it has it all.
fn violations(span: &SpanRecord) -> Vec<String> {
    let mut missing = Vec::new();
    let need = |missing: &mut Vec<String>, key: &str, ok: fn(&Value) -> bool| {
        if !span.attr(key).is_some_and(ok) {
            missing.push(format!("{key} = {:?}", span.attr(key)));
        }
    };
    match span.kind {
        SpanKind::Server => {
            need(&mut missing, "http.request.method", text);
            need(&mut missing, "url.path", text);
            need(&mut missing, "http.route", text);
            need(&mut missing, "http.response.status_code", int);
            need(&mut missing, "server.address", text);
        }
        SpanKind::Client if span.attr("http.request.method").is_some() => {
            need(&mut missing, "http.request.method", text);
            need(&mut missing, "url.full", |v| {
                // Never credentials in the URL.
                v.as_str()
                    .is_some_and(|url| url.starts_with("http://") && !url.contains('@'))
            });
            need(&mut missing, "server.address", text);
            need(&mut missing, "server.port", int);
            // An answer has its status; no answer (a timeout, a refused connection) an error.type.
            if span.attr("http.response.status_code").is_none() {
                need(&mut missing, "error.type", text);
            }
        }
        SpanKind::Client if span.attr("db.system.name").is_some() => {
            need(&mut missing, "db.system.name", |v| v == "sqlite");
            need(&mut missing, "db.operation.name", text);
            need(&mut missing, "db.collection.name", text);
            if span.attr("db.query.text").is_some() {
                missing.push("db.query.text is not emitted (it would carry values)".into());
            }
        }
        SpanKind::Client => {
            missing.push("a CLIENT span that is neither HTTP nor a database call".into())
        }
        SpanKind::Producer | SpanKind::Consumer => {
            need(&mut missing, "messaging.system", |v| v == "nats");
            need(&mut missing, "messaging.destination.name", text);
            need(&mut missing, "messaging.message.id", text);
            match span.kind {
                SpanKind::Producer => {
                    need(&mut missing, "messaging.operation.type", |v| v == "send")
                }
                _ => need(&mut missing, "messaging.operation.type", |v| v == "process"),
            }
        }
        SpanKind::Internal | SpanKind::Unspecified => {}
    }
    if span.status == StatusCode::Error {
        need(&mut missing, "error.type", text);
    }
    for event in span.events.iter().filter(|e| e.name == "exception") {
        for key in ["exception.type", "exception.message"] {
            if !event.attributes.get(key).is_some_and(text) {
                missing.push(format!("exception event without {key}"));
            }
        }
    }
    missing
}

/// Every span of `trace` follows the conventions; returns how many spans of each kind it has.
fn assert_conventions(trace: &Trace) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    let problems: Vec<String> = trace
        .spans
        .iter()
        .inspect(|span| *kinds.entry(format!("{:?}", span.kind)).or_default() += 1)
        .flat_map(|span| {
            violations(span)
                .into_iter()
                .map(move |v| format!("{} {} ({:?}): {v}", span.service_name, span.name, span.kind))
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\n{}", trace.render());
    kinds
}

async fn order(stack: &TestStack, token: &str, card: &str) -> (u16, String) {
    let reply = stack.order(token, "widget", 1, card).await;
    (reply.status, reply.trace_id.expect("traceresponse"))
}

#[tokio::test]
async fn every_span_of_an_order_and_of_failed_orders_follows_the_conventions() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;

    // A good order, both async hops processed: every kind of span there is.
    let (status, trace_id) = order(&stack, &token, APPROVED).await;
    assert_eq!(status, 201);
    stack
        .wait_for(&trace_id, "the fulfilment processed", |t| {
            !t.named("order-service", "process orders.fulfilled")
                .is_empty()
        })
        .await;
    let trace = stack
        .wait_for_trace(&trace_id, &tracecheck::ORDER_SERVICES)
        .await;
    let kinds = assert_conventions(&trace);
    // An order has no INTERNAL span: every operation is its SERVER, CLIENT, PRODUCER or
    // CONSUMER span (one span per operation: docs/performance.md).
    for kind in ["Server", "Client", "Producer", "Consumer"] {
        assert!(
            kinds.get(kind).is_some_and(|n| *n > 0),
            "no {kind} span: {kinds:?}"
        );
    }

    // A declined card (402) and a processing error (500 from payment-service, 502 relayed).
    for (card, expected) in [(DECLINED, 402), (PROCESSING_ERROR, 502)] {
        let (status, trace_id) = order(&stack, &token, card).await;
        assert_eq!(status, expected);
        let trace = stack.wait_for_trace(&trace_id, &["payment-service"]).await;
        assert_conventions(&trace);
        assert!(
            trace.spans.iter().any(|s| s.status == StatusCode::Error),
            "{}",
            trace.render()
        );
    }

    // A database call that fails: payment-service's table is gone.
    {
        let db = stack.database("payment-service");
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", db.display()))
            .await
            .unwrap();
        sqlx::query("ALTER TABLE payments RENAME TO payments_moved")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let (status, trace_id) = order(&stack, &token, APPROVED).await;
    assert_eq!(status, 502);
    let trace = stack
        .wait_for(&trace_id, "payment-service's failed query", |t| {
            t.spans.iter().any(|s| {
                s.service_name == "payment-service"
                    && s.attr("db.system.name").is_some()
                    && s.status == StatusCode::Error
            })
        })
        .await;
    assert_conventions(&trace);
    let failed = trace
        .spans
        .iter()
        .find(|s| {
            s.service_name == "payment-service"
                && s.status == StatusCode::Error
                && s.attr("db.system.name").is_some()
        })
        .unwrap();
    assert_eq!(failed.attr_str("db.collection.name"), Some("payments"));
    assert!(
        failed.status_message.contains("no such table"),
        "{}",
        failed.status_message
    );
    let server = trace.one("payment-service", "POST /api/payments");
    assert_eq!(server.attr("http.response.status_code"), Some(&json!(500)));

    // A dead service: the CLIENT span has no answer, so an error.type and an exception event.
    stack.kill_service("user-service");
    let (status, trace_id) = order(&stack, &token, APPROVED).await;
    assert_eq!(status, 502);
    let trace = stack
        .wait_for(&trace_id, "the refused call", |t| {
            t.http_client_spans()
                .iter()
                .any(|s| s.attr_str("peer.service") == Some("user-service"))
        })
        .await;
    assert_conventions(&trace);
    let call = trace
        .http_client_spans()
        .into_iter()
        .find(|s| s.attr_str("peer.service") == Some("user-service"))
        .unwrap();
    assert_eq!(call.attr_str("error.type"), Some("connection_error"));
    assert!(call.event("exception").is_some(), "{}", trace.render());
}
