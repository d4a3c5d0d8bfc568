//! The example in `examples/checkout` proves the kit can be lifted out: a seventh service, built
//! on `shared-tracing` alone, put in front of the real stack, shows up in the order's trace with
//! the right parents — its SERVER span under its caller's span, its CLIENT span under that, and
//! the gateway's SERVER span under its CLIENT span — and the rest of the trace is complete.

use e2e::{SERVICES, TestStack, cards::APPROVED};
use otlp_receiver::SpanKind;
use std::time::{SystemTime, UNIX_EPOCH};

/// The caller: a kiosk's span, exported to the stack's receiver as any traced client would.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const KIOSK_SPAN: &str = "00f067aa0ba902b7";

async fn export_kiosk_span(stack: &TestStack) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let span = serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [
            { "key": "service.name", "value": { "stringValue": "kiosk" } }
        ] },
        "scopeSpans": [{ "spans": [{
            "traceId": TRACE_ID, "spanId": KIOSK_SPAN, "name": "checkout button",
            "kind": 1, "startTimeUnixNano": now.to_string(), "endTimeUnixNano": now.to_string(),
        }] }],
    }] });
    let response = reqwest::Client::new()
        .post(format!("{}/v1/traces", stack.otlp_endpoint()))
        .json(&span)
        .send()
        .await
        .expect("the receiver answers");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn a_seventh_service_built_on_the_kit_alone_joins_the_orders_trace() {
    let mut stack = TestStack::start().await;
    let gateway = stack.url("gateway");
    let checkout = stack
        .start_beside("checkout-service", &[("GATEWAY_URL", &gateway)])
        .await;
    let token = stack.login("alice", "alice123").await;
    export_kiosk_span(&stack).await;
    let response = reqwest::Client::new()
        .post(format!("{checkout}/checkout"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{KIOSK_SPAN}-01"))
        .json(&serde_json::json!({
            "items": [{ "sku": "widget", "quantity": 1 }],
            "card_number": APPROVED,
        }))
        .send()
        .await
        .expect("checkout-service answers");
    assert_eq!(response.status(), 201);
    let order: serde_json::Value = response.json().await.unwrap();
    assert_eq!(order["status"], "confirmed", "{order}");

    // Complete once the second async hop is in: one root (the kiosk's), no orphan, every HTTP
    // and NATS hop joined.
    let mut services: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    services.extend(["kiosk", "checkout-service"]);
    stack
        .wait_for(TRACE_ID, "the fulfilment event processed", |trace| {
            !trace
                .named("order-service", "process orders.fulfilled")
                .is_empty()
        })
        .await;
    let trace = stack.wait_for_trace(TRACE_ID, &services).await;

    let server = trace.one("checkout-service", "POST /checkout");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.parent_span_id.as_deref(), Some(KIOSK_SPAN));
    let client = trace.one("checkout-service", "POST /api/orders");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(
        client.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert_eq!(client.attr_str("peer.service"), Some("gateway"));
    let edges = trace.named("gateway", "POST /api/orders");
    let edge = edges
        .iter()
        .find(|span| span.kind == SpanKind::Server)
        .expect("the gateway's SERVER span");
    assert_eq!(
        edge.parent_span_id.as_deref(),
        Some(client.span_id.as_str())
    );
    // Below it, the shop's whole order, both async hops included.
    for (service, name) in [
        ("inventory-service", "process orders.created"),
        ("order-service", "process orders.fulfilled"),
    ] {
        assert_eq!(trace.one(service, name).kind, SpanKind::Consumer);
    }
    assert_eq!(trace.roots().len(), 1);
    assert_eq!(trace.roots()[0].span_id, KIOSK_SPAN);
}
