//! The `order.created` hop over NATS JetStream: the consumer span joins the order's trace, and no
//! event or link is lost when the consumer, the service or the broker is away. Real nats-server.

use e2e::{Reply, TestStack, Trace};
use otlp_receiver::{SpanKind, SpanRecord, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const APPROVED: &str = "4242424242424242";
const PUBLISH: &str = "publish orders.created";
const PROCESS: &str = "process orders.created";
const FULFILLED: &str = "process orders.fulfilled";

/// The `outcome` the consumer recorded on its CONSUMER span (one span per delivery).
fn commit_outcome<'a>(_trace: &'a Trace, consumer: &'a SpanRecord) -> Option<&'a str> {
    consumer.attr_str("outcome")
}

/// The consumer's span hangs off a successful PRODUCER span of the same trace, and the producer
/// hangs (through the outbox) off the order request; returns the consumer span.
///
/// Exactly one delivery commits the stock. JetStream delivers at least once — an ack that misses
/// `ack_wait` on a loaded machine brings the message back — so a redelivery may add a second
/// successful consumer span, which must find the stock already committed and change nothing.
fn assert_async_hop(trace: &Trace, order_id: &str) -> SpanRecord {
    let (committed, replays): (Vec<&SpanRecord>, Vec<&SpanRecord>) = trace
        .named("inventory-service", PROCESS)
        .into_iter()
        .filter(|s| s.status != StatusCode::Error)
        .partition(|s| {
            matches!(
                commit_outcome(trace, s),
                Some("committed" | "committed_after_expiry")
            )
        });
    assert_eq!(
        committed.len(),
        1,
        "one consumer span that committed the stock:\n{}",
        trace.render()
    );
    for replay in &replays {
        assert_eq!(
            commit_outcome(trace, replay),
            Some("already_committed"),
            "a redelivery changes nothing:\n{}",
            trace.render()
        );
    }
    let consumer = committed[0];
    assert_eq!(consumer.kind, SpanKind::Consumer);
    assert_eq!(consumer.attr_str("messaging.system"), Some("nats"));
    assert_eq!(
        consumer.attr_str("messaging.destination.name"),
        Some("orders.created")
    );
    assert_eq!(
        consumer.attr_str("messaging.consumer.group.name"),
        Some("inventory")
    );
    assert_eq!(consumer.attr_str("order_id"), Some(order_id));

    let producer = trace.parent(consumer).expect("the consumer's parent");
    assert_eq!(
        (producer.service_name.as_str(), producer.name.as_str()),
        ("order-service", PUBLISH)
    );
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_ne!(producer.status, StatusCode::Error);
    assert_eq!(producer.attr_str("messaging.system"), Some("nats"));
    assert_eq!(
        producer.attr_str("messaging.destination.name"),
        Some("orders.created")
    );
    assert_eq!(producer.attr_str("messaging.operation.type"), Some("send"));
    assert_eq!(producer.attr_str("messaging.message.id"), Some(order_id));
    assert_eq!(producer.attr_str("order_id"), Some(order_id));
    assert_eq!(producer.attr_str("event_type"), Some("order.created"));
    let request = trace.parent(producer).expect("the producer's parent");
    assert_eq!(
        (request.service_name.as_str(), request.name.as_str()),
        ("order-service", "POST /api/orders")
    );

    // What the consumer did is on its own span: no INTERNAL span repeats it.
    assert_eq!(consumer.attr_str("order_id"), Some(order_id));
    assert!(
        consumer.attr_str("outcome").is_some(),
        "no outcome on the consumer span:\n{}",
        trace.render()
    );
    consumer.clone()
}

fn has_successful_consumer(trace: &Trace) -> bool {
    trace
        .named("inventory-service", PROCESS)
        .iter()
        .any(|s| s.status != StatusCode::Error && trace.parent(s).is_some())
}

async fn place(stack: &TestStack, token: &str, quantity: i64) -> (String, String) {
    let reply: Reply = stack
        .place_order(
            token,
            json!([{ "sku": "widget", "quantity": quantity }]),
            APPROVED,
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    (
        reply.body["order_id"].as_str().unwrap().to_owned(),
        reply.trace_id.expect("traceresponse"),
    )
}

/// Logs in as alice and places one order whose event goes all the way through, which proves the
/// stream (created by order-service at start-up) and the consumer are running.
async fn warm_up(stack: &TestStack) -> (String, String, String) {
    let token = stack.login("alice", "alice123").await;
    let (order_id, trace_id) = place(stack, &token, 1).await;
    stack
        .wait_for(&trace_id, "a consumer span", has_successful_consumer)
        .await;
    (token, order_id, trace_id)
}

async fn sold_widgets(stack: &TestStack) -> i64 {
    stack.stock("widget").await["sold"].as_i64().unwrap()
}

/// Waits until exactly `expected` widgets are sold, then checks the count stays there.
async fn assert_sold_exactly(stack: &TestStack, expected: i64) {
    stack
        .eventually(
            Duration::from_secs(30),
            &format!("{expected} widgets sold"),
            || async { (sold_widgets(stack).await >= expected).then_some(()) },
        )
        .await;
    // No timing window: once the consumer has nothing pending or unacknowledged, no duplicate
    // delivery can still come, so the count is final.
    stack.wait_for_consumer_idle(Duration::from_secs(30)).await;
    let stock = stack.stock("widget").await;
    assert_eq!(stock["sold"], expected, "{stock}");
    assert_eq!(stock["reserved"], 0, "{stock}");
}

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
async fn events_wait_for_a_stopped_consumer_and_are_processed_exactly_once_even_after_sigkill() {
    let mut stack = TestStack::start().await;
    let token = stack.login("bob", "bob123").await;

    // API only: reservations still work over HTTP, events queue in the stream.
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "false")])
        .await;
    let mut orders = Vec::new();
    let mut ordered = 0;
    for i in 0..20 {
        let quantity = 1 + i % 3;
        ordered += quantity;
        orders.push(place(&stack, &token, quantity).await);
    }
    let stock = stack.stock("widget").await;
    assert_eq!(
        (stock["reserved"].as_i64(), stock["sold"].as_i64()),
        (Some(ordered), Some(0))
    );

    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "true")])
        .await;
    assert_sold_exactly(&stack, ordered).await;
    for (order_id, trace_id) in &orders {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        assert_async_hop(&trace, order_id);
    }

    // Again, but SIGKILL the consumer as soon as it has sold part of the batch.
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "false")])
        .await;
    let before = ordered;
    for i in 0..40 {
        let quantity = 1 + i % 2;
        ordered += quantity;
        place(&stack, &token, quantity).await;
    }
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "true")])
        .await;
    let at_kill = stack
        .eventually(Duration::from_secs(30), "the batch to start", || async {
            let sold = sold_widgets(&stack).await;
            (sold > before).then_some(sold)
        })
        .await;
    stack.kill_service("inventory-service");
    assert!(
        at_kill < ordered,
        "the batch finished before the kill ({at_kill} of {ordered})"
    );
    stack.start_service("inventory-service", &[]).await;
    assert_sold_exactly(&stack, ordered).await;
}

#[tokio::test]
async fn events_go_on_when_the_broker_returns_with_an_empty_store() {
    let mut stack = TestStack::start().await;
    let (token, _, _) = warm_up(&stack).await;

    // The broker comes back without its store: no stream, no consumer.
    stack.nats().stop().await;
    stack.nats().wipe();
    stack.nats().resume().await;
    let jetstream = async_nats::jetstream::new(stack.nats().client().await);
    assert!(
        jetstream.get_stream("ORDERS").await.is_err(),
        "the stream survived the wipe"
    );

    // The relay and the consumer set up what they need again, and the event goes through.
    let (order_id, trace_id) = place(&stack, &token, 1).await;
    let trace = stack
        .wait_for(&trace_id, "a consumer span", has_successful_consumer)
        .await;
    assert_async_hop(&trace, &order_id);
    assert_sold_exactly(&stack, 2).await;
    // order-service's consumer of orders.fulfilled came back too.
    stack
        .eventually(Duration::from_secs(30), "the order fulfilled", || async {
            let order = stack.get_order(&token, &order_id).await;
            (order.body["status"] == "fulfilled").then_some(())
        })
        .await;
}

#[tokio::test]
async fn orders_taken_while_nats_is_down_are_all_delivered_when_it_returns() {
    let mut stack = TestStack::start().await;
    // The stream exists before the broker goes away.
    let (token, first_order, first_trace) = warm_up(&stack).await;

    stack.nats().stop().await;
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(place(&stack, &token, 1).await);
    }
    let pending = stack.stock("widget").await;
    assert_eq!(
        (pending["sold"].as_i64(), pending["reserved"].as_i64()),
        (Some(1), Some(10))
    );

    stack.nats().resume().await;
    assert_sold_exactly(&stack, 11).await;
    for (order_id, trace_id) in orders.iter().chain([(first_order, first_trace)].iter()) {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        assert_async_hop(&trace, order_id);
    }
}

#[tokio::test]
async fn events_that_come_after_the_reservation_expired_still_sell_the_stock_once() {
    let mut stack =
        TestStack::start_configured(&[], &[("inventory-service", "RESERVATION_TTL_MS", "1000")])
            .await;
    let (token, _, _) = warm_up(&stack).await;
    let on_sale = stack.stock("widget").await["available"].as_i64().unwrap();

    // The broker is down longer than the TTL: the three orders' reservations expire and their
    // widgets go back on sale before the events can come.
    stack.nats().stop().await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(place(&stack, &token, 1).await);
    }
    stack
        .eventually(
            Duration::from_secs(15),
            "the reservations expired",
            || async {
                let stock = stack.stock("widget").await;
                (stock["reserved"] == 0 && stock["available"] == on_sale).then_some(())
            },
        )
        .await;

    // Back up: each event sells its widget from what is on sale, once.
    stack.nats().resume().await;
    assert_sold_exactly(&stack, 4).await;
    assert_eq!(
        stack.stock("widget").await["available"].as_i64(),
        Some(on_sale - 3)
    );
    for (order_id, trace_id) in &orders {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        let consumer = assert_async_hop(&trace, order_id);
        assert_eq!(
            commit_outcome(&trace, &consumer),
            Some("committed_after_expiry"),
            "{}",
            trace.render()
        );
        assert!(
            trace
                .spans
                .iter()
                .any(|s| s.name == "inventory.expire_reservation"),
            "{}",
            trace.render()
        );
    }
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

    // Another tool holds stock over HTTP and announces it without any trace context.
    let http = reqwest::Client::new();
    let reserved = http
        .post(format!(
            "{}/api/reservations",
            stack.url("inventory-service")
        ))
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
