//! Work no one samples: no span anywhere, and its context passed on all the same — through HTTP,
//! NATS and the rows that carry it — in the answers, the error bodies and the log lines. Real
//! processes, real OTLP export.

use e2e::cards::{APPROVED, DECLINED};
use e2e::{SERVICES, TestStack};
use serde_json::json;
use std::time::Duration;

/// A trace the caller did not sample (`-00`).
const UNSAMPLED: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Whether `log` has a line written in the trace `trace_id` that says `message`.
fn logged_in(log: &str, trace_id: &str, message: &str) -> bool {
    let trace = format!("\"trace_id\":\"{trace_id}\"");
    log.lines()
        .any(|line| line.contains(&trace) && line.contains(message))
}

#[tokio::test]
async fn a_trace_the_caller_did_not_sample_goes_through_every_hop_without_a_span() {
    let stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let items = json!([{ "sku": "widget", "quantity": 1 }]);
    let traceparent = format!("00-{UNSAMPLED}-00f067aa0ba902b7-00");
    let unsampled = stack
        .place_order_with(
            &token,
            items.clone(),
            APPROVED,
            &[("traceparent", &traceparent)],
        )
        .await;
    assert_eq!(unsampled.status, 201, "{:?}", unsampled.body);
    assert_eq!(unsampled.trace_id.as_deref(), Some(UNSAMPLED));
    assert_eq!(unsampled.sampled, Some(false));

    // The same order, sampled, after it: once its trace is whole in every service, the spans the
    // first one would have made would have been exported before.
    let sampled = stack.place_order(&token, items, APPROVED).await;
    assert_eq!(sampled.status, 201, "{:?}", sampled.body);
    assert_eq!(sampled.sampled, Some(true));
    let control = sampled.trace_id.expect("a traceresponse");
    let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    stack.wait_for_trace(&control, &names).await;

    assert_eq!(
        stack.spans().trace(UNSAMPLED),
        vec![],
        "spans of an unsampled trace"
    );
    // The services behind the gateway wrote their lines of the order in the caller's trace:
    // reached over HTTP (a charge), and over NATS — orders.created consumed by inventory-service,
    // orders.fulfilled, which that consumer published, by order-service.
    let lines = [
        ("payment-service", "payment approved"),
        ("inventory-service", "stock moved from reserved to sold"),
        ("order-service", "order fulfilled"),
    ];
    for (service, message) in lines {
        for (trace_id, which) in [(control.as_str(), "sampled"), (UNSAMPLED, "unsampled")] {
            stack
                .eventually(
                    Duration::from_secs(10),
                    &format!("{service} to log {message:?} for the {which} order"),
                    || async { logged_in(&stack.log(service), trace_id, message).then_some(()) },
                )
                .await;
        }
    }
    // The order's outbox row kept the caller's trace, not sampled, for the relay to continue.
    let order_db = stack.database("order-service");
    let stored = stack
        .eventually(Duration::from_secs(10), "the outbox row", || async {
            let url = format!("sqlite://{}?mode=ro", order_db.display());
            let pool = sqlx::SqlitePool::connect(&url).await.ok()?;
            let rows: Vec<(String,)> = sqlx::query_as("SELECT trace_context FROM outbox")
                .fetch_all(&pool)
                .await
                .ok()?;
            rows.into_iter()
                .map(|(json,)| json)
                .find(|json| json.contains(UNSAMPLED))
        })
        .await;
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let parent = stored["traceparent"]
        .as_str()
        .expect("a stored traceparent");
    assert!(
        parent.starts_with(&format!("00-{UNSAMPLED}-")) && parent.ends_with("-00"),
        "{parent}"
    );
}

#[tokio::test]
async fn always_off_records_nothing_and_still_passes_the_context_on() {
    let mut stack = TestStack::start_with(&[("OTEL_TRACES_SAMPLER", "always_off")]).await;
    let token = stack.login("alice", "alice123").await;
    let order = stack.order(&token, "widget", 1, APPROVED).await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    assert_eq!(order.sampled, Some(false));
    let trace_id = order.trace_id.expect("a traceresponse, sampled or not");

    // An error names its trace in the body, as when it is sampled (`place_order` checks that).
    let declined = stack.order(&token, "widget", 1, DECLINED).await;
    assert_eq!(declined.status, 402, "{:?}", declined.body);
    assert_ne!(declined.trace_id.as_deref(), Some(trace_id.as_str()));

    // The services behind the gateway wrote their lines of the order in the trace it started,
    // over HTTP and over NATS.
    let lines = [
        ("payment-service", "payment approved"),
        ("inventory-service", "stock moved from reserved to sold"),
        ("order-service", "order fulfilled"),
    ];
    for (service, message) in lines {
        stack
            .eventually(
                Duration::from_secs(10),
                &format!("{service} to log {message:?} for the order"),
                || async { logged_in(&stack.log(service), &trace_id, message).then_some(()) },
            )
            .await;
    }
    // Stopped, every service has flushed what it had: nothing.
    stack.stop().await;
    assert_eq!(stack.spans().len(), 0, "{:?}", stack.spans().spans());
}
