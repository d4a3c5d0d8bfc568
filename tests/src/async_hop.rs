//! The `order.created` hop as the tests check it: the CONSUMER span under the PRODUCER span under
//! the order request, exactly one delivery committing the stock, and the helpers that place
//! orders and watch the stock they sell.

use crate::{Reply, TestStack, Trace, cards::APPROVED};
use otlp_receiver::{SpanKind, SpanRecord, StatusCode};
use std::time::Duration;

/// The relay's PRODUCER span.
pub const PUBLISH: &str = "publish orders.created";
/// inventory-service's CONSUMER span.
pub const PROCESS: &str = "process orders.created";
/// order-service's CONSUMER span of the way back.
pub const FULFILLED: &str = "process orders.fulfilled";

/// The `outcome` the consumer recorded on its CONSUMER span (one span per delivery).
pub fn commit_outcome<'a>(_trace: &'a Trace, consumer: &'a SpanRecord) -> Option<&'a str> {
    consumer.attr_str("outcome")
}

/// The consumer's span hangs off a successful PRODUCER span of the same trace, and the producer
/// hangs (through the outbox) off the order request; returns the consumer span.
///
/// Exactly one delivery commits the stock. JetStream delivers at least once — an ack that misses
/// `ack_wait` on a loaded machine brings the message back — so a redelivery may add a second
/// successful consumer span, which must find the stock already committed and change nothing.
pub fn assert_async_hop(trace: &Trace, order_id: &str) -> SpanRecord {
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

/// Whether inventory-service processed the event without error, joined to the trace.
pub fn has_successful_consumer(trace: &Trace) -> bool {
    trace
        .named("inventory-service", PROCESS)
        .iter()
        .any(|s| s.status != StatusCode::Error && trace.parent(s).is_some())
}

/// Places an approved order of `quantity` widgets; returns its order id and trace id.
pub async fn place(stack: &TestStack, token: &str, quantity: i64) -> (String, String) {
    let reply: Reply = stack.order(token, "widget", quantity, APPROVED).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    (
        reply.body["order_id"].as_str().unwrap().to_owned(),
        reply.trace_id.expect("traceresponse"),
    )
}

/// Logs in as alice and places one order whose event goes all the way through, which proves the
/// stream (created by order-service at start-up) and the consumer are running.
pub async fn warm_up(stack: &TestStack) -> (String, String, String) {
    let token = stack.login("alice", "alice123").await;
    let (order_id, trace_id) = place(stack, &token, 1).await;
    stack
        .wait_for(&trace_id, "a consumer span", has_successful_consumer)
        .await;
    (token, order_id, trace_id)
}

/// How many widgets are sold.
pub async fn sold_widgets(stack: &TestStack) -> i64 {
    stack.stock("widget").await["sold"].as_i64().unwrap()
}

/// Waits until exactly `expected` widgets are sold, then checks the count stays there.
pub async fn assert_sold_exactly(stack: &TestStack, expected: i64) {
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
