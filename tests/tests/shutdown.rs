//! A service told to stop lets its in-flight requests finish for `SHUTDOWN_GRACE_MS`, then closes
//! what is still open, flushes its spans and exits — one stuck connection does not keep it
//! running until it is killed, with its spans lost.

use e2e::TestStack;
use reqwest::Method;
use std::time::Duration;

#[tokio::test]
async fn a_stuck_request_does_not_keep_a_service_from_exiting_and_flushing_its_spans() {
    // A one-minute batch delay: whatever arrives was flushed by the shutdown.
    let mut stack = TestStack::start_configured(
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000")],
        &[("inventory-service", "SHUTDOWN_GRACE_MS", "1000")],
    )
    .await;
    // Stock is read in the gateway's name, as the gateway reads it.
    let lookup = || {
        stack.signed(
            "gateway",
            Method::GET,
            "inventory-service",
            "/api/stock/widget",
        )
    };

    // One request answered before the stop, and one that is still being served: it asks
    // inventory-service to take two minutes over it.
    let answered = "4bf92f3577b34da6a3ce929d0e0e4736";
    let stuck = "5ce929d0e0e47364bf92f3577b34da6a";
    let parent = "00f067aa0ba902b7";
    let reply = lookup()
        .header("traceparent", format!("00-{answered}-{parent}-01"))
        .send()
        .await
        .expect("inventory-service answers");
    assert_eq!(reply.status(), 200);
    let request = lookup()
        .header("traceparent", format!("00-{stuck}-{parent}-01"))
        .header("baggage", "fault.inventory-service=slow:120000");
    let stuck_request = tokio::spawn(request.send());
    stack
        .eventually(
            Duration::from_secs(10),
            "the slow request served",
            || async {
                stack
                    .log("inventory-service")
                    .contains("fault_injected")
                    .then_some(())
            },
        )
        .await;

    // SIGTERM, and SIGKILL 10 s later as `docker compose stop` would: it exits by itself.
    assert!(
        stack.stop_service("inventory-service").await,
        "inventory-service had to be killed:\n{}",
        stack.log("inventory-service")
    );
    assert!(
        stack
            .log("inventory-service")
            .contains("shutdown grace period over"),
        "{}",
        stack.log("inventory-service")
    );
    // The stuck request's caller sees its connection closed.
    let outcome = stuck_request.await.expect("the request task");
    assert!(outcome.is_err(), "{outcome:?}");

    // Both requests' SERVER spans were exported on the way out, the stuck one ended at the close.
    for (trace_id, what) in [
        (answered, "the answered request"),
        (stuck, "the stuck request"),
    ] {
        let spans = stack.spans().trace(trace_id);
        assert!(
            spans
                .iter()
                .any(|s| s.service_name == "inventory-service" && s.name == "GET /api/stock/{sku}"),
            "{what}'s SERVER span was not flushed: {spans:?}"
        );
    }
    stack.stop().await;
}
