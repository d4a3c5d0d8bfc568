//! The `tracecheck` CLI, run as a process against a live stack and the receiver's
//! Jaeger-compatible API: the same command the README runs against Jaeger after `docker compose up`.

use e2e::{SERVICES, TestStack, binary};
use reqwest::Method;

async fn tracecheck(args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(binary("tracecheck"))
        .args(args)
        .output()
        .await
        .expect("running tracecheck");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.success(), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn tracecheck_places_an_order_and_finds_its_trace_complete() {
    let stack = TestStack::start().await;
    let (gateway, api) = (stack.url("gateway"), stack.query_api());
    let (ok, out) = tracecheck(&[
        "--place-order",
        "--gateway",
        &gateway,
        "--api",
        &api,
        "--timeout",
        "30",
    ])
    .await;
    println!("{out}");
    assert!(ok, "{out}");
    assert!(out.contains("order placed: 201 Created"), "{out}");
    assert!(
        out.contains("complete: 6 services, one root, every hop joined"),
        "{out}"
    );
    for service in SERVICES.map(|s| s.name) {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(service)),
            "{service} missing:\n{out}"
        );
    }
    assert!(
        out.contains("process orders.created"),
        "the async hop is in the tree:\n{out}"
    );
    assert!(
        out.contains(&format!("{api}/trace/")),
        "the link is printed:\n{out}"
    );
}

#[tokio::test]
async fn tracecheck_fails_for_an_unknown_or_incomplete_trace() {
    let stack = TestStack::start().await;
    let api = stack.query_api();
    let (ok, out) = tracecheck(&[
        "--api",
        &api,
        "--timeout",
        "1",
        "0123456789abcdef0123456789abcdef",
    ])
    .await;
    assert!(!ok && out.contains("not found"), "{out}");

    // A stock lookup crosses two services only: complete for those two, not for an order.
    let reply = stack
        .call(Method::GET, "/api/inventory/widget", None, &[], None)
        .await;
    let trace_id = reply.trace_id.unwrap();
    stack
        .wait_for_trace(&trace_id, &["gateway", "inventory-service"])
        .await;
    let (ok, out) = tracecheck(&["--api", &api, "--timeout", "1", &trace_id]).await;
    assert!(
        !ok && out.contains("INCOMPLETE") && out.contains("no span from payment-service"),
        "{out}"
    );
    let two = "gateway,inventory-service";
    let (ok, out) = tracecheck(&[
        "--api",
        &api,
        "--timeout",
        "5",
        "--expect-services",
        two,
        &trace_id,
    ])
    .await;
    assert!(ok, "{out}");
}
