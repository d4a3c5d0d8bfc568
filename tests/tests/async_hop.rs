//! The `order.created` hop over NATS JetStream: the consumer span joins the order's trace, a
//! poison message is dead-lettered with its trace headers, and a message that carries none is
//! processed under a new root. Real nats-server. (When the consumer, the service or the broker
//! is away: `async_hop_recovery.rs`.)

use e2e::async_hop::*;
use e2e::{TestStack, Trace};
use otlp_receiver::{SpanKind, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn order_created_event_carries_the_trace_to_the_inventory_consumer() {
    let stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let (order_id, trace_id) = place(&stack, &token, 3).await;

    let trace = stack
        .wait_for(&trace_id, "a consumer span", has_successful_consumer)
        .await;
    assert_async_hop(&trace, &order_id);
    assert_eq!(trace.roots().len(), 1, "{}", trace.render());
    // The second hop: inventory-service announces the sale as orders.fulfilled, and
    // order-service's consumer marks the order, still in the same trace.
    let trace = stack
        .wait_for(&trace_id, "the fulfilment event processed", |t| {
            t.named("order-service", FULFILLED)
                .iter()
                .any(|s| s.status != StatusCode::Error)
        })
        .await;
    let fulfil = trace.one("order-service", FULFILLED);
    assert_eq!(fulfil.kind, SpanKind::Consumer);
    assert_eq!(
        fulfil.attr_str("messaging.consumer.group.name"),
        Some("order")
    );
    assert_eq!(fulfil.attr_str("order_id"), Some(order_id.as_str()));
    let announced = trace.parent(fulfil).expect("the fulfilment's producer");
    assert_eq!(
        (announced.service_name.as_str(), announced.name.as_str()),
        ("inventory-service", "publish orders.fulfilled")
    );
    assert_eq!(announced.kind, SpanKind::Producer);
    assert_eq!(
        announced
            .attr_str("messaging.message.id")
            .map(str::to_owned),
        Some(format!("order.fulfilled:{order_id}"))
    );
    let sale = trace.parent(announced).expect("the sale's consumer span");
    assert_eq!(
        (sale.service_name.as_str(), sale.name.as_str()),
        ("inventory-service", PROCESS)
    );
    assert!(
        trace
            .spans
            .iter()
            .all(|s| s.attr_str("url.template") != Some("/internal/orders/{id}/fulfilled")),
        "no HTTP call back from inventory-service to order-service:\n{}",
        trace.render()
    );

    let order = stack.get_order(&token, &order_id).await;
    assert_eq!(order.body["status"], "fulfilled", "{:?}", order.body);
    assert_sold_exactly(&stack, 3).await;
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_with_its_trace_headers() {
    let mut stack = TestStack::start().await;
    warm_up(&stack).await;

    let jetstream = async_nats::jetstream::new(stack.nats().client().await);
    let poison_trace = "5a1e5a1e5a1e5a1e5a1e5a1e5a1e5a1e";
    let traceparent = format!("00-{poison_trace}-00f067aa0ba902b7-01");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", traceparent.as_str());
    headers.insert(async_nats::header::NATS_MESSAGE_ID, "poison-1");
    jetstream
        .publish_with_headers("orders.created", headers, "this is not JSON".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let mut stream = jetstream.get_stream("ORDERS").await.unwrap();
    let dead = stack
        .eventually(Duration::from_secs(30), "a message on orders.dlq", || {
            let stream = stream.clone();
            async move {
                stream
                    .get_last_raw_message_by_subject("orders.dlq")
                    .await
                    .ok()
            }
        })
        .await;
    assert_eq!(&dead.payload[..], b"this is not JSON");
    let headers = dead.headers;
    assert_eq!(
        headers.get("traceparent").map(|v| v.as_str()),
        Some(traceparent.as_str())
    );
    assert_eq!(
        headers.get("dlq-original-subject").map(|v| v.as_str()),
        Some("orders.created")
    );
    assert!(
        headers
            .get("dlq-reason")
            .is_some_and(|v| v.as_str().contains("not an order.created event"))
    );
    assert_eq!(stream.info().await.unwrap().config.name, "ORDERS");

    // Every delivery (CONSUMER_MAX_DELIVER=3 in the test stack) is a failed CONSUMER span in the
    // poison message's own trace, parented to the span that published it.
    // (Its parent is the outside publisher's span, so the trace is not complete by design.)
    let trace = stack
        .eventually(
            Duration::from_secs(20),
            "three failed deliveries",
            || async {
                let trace = Trace::new(stack.spans().trace(poison_trace));
                (trace.named("inventory-service", PROCESS).len() == 3).then_some(trace)
            },
        )
        .await;
    for delivery in trace.named("inventory-service", PROCESS) {
        assert_eq!(delivery.status, StatusCode::Error);
        assert_eq!(delivery.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert!(delivery.event("exception").is_some());
    }
    let deliveries: Vec<i64> = trace
        .named("inventory-service", PROCESS)
        .iter()
        .filter_map(|s| {
            s.attr("messaging.nats.delivery_count")
                .and_then(Value::as_i64)
        })
        .collect();
    assert_eq!(deliveries.len(), 3, "{}", trace.render());
}

#[tokio::test]
async fn a_message_without_trace_headers_is_processed_under_a_new_root() {
    let mut stack = TestStack::start().await;
    warm_up(&stack).await;

    // Another tool holds stock over HTTP (in order-service's name, the only caller
    // inventory-service admits) and announces it without any trace context.
    let reserved = stack
        .signed(
            "order-service",
            reqwest::Method::POST,
            "inventory-service",
            "/api/reservations",
        )
        .json(&json!({ "order_id": "external-1", "items": [{ "sku": "widget", "quantity": 4 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201);
    let jetstream = async_nats::jetstream::new(stack.nats().client().await);
    jetstream
        .publish(
            "orders.created",
            json!({ "order_id": "external-1" }).to_string().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    assert_sold_exactly(&stack, 5).await;
    let consumer = stack
        .eventually(Duration::from_secs(20), "the consumer span", || async {
            stack
                .spans()
                .filter(|s| s.name == PROCESS && s.attr_str("order_id") == Some("external-1"))
                .pop()
        })
        .await;
    assert_eq!(
        consumer.parent_span_id, None,
        "a message without context starts a new trace"
    );
    assert_eq!(consumer.status, StatusCode::Unset);
}
