//! Trace quality as a live figure, against the real binaries: the viewer's `GET /api/quality`
//! over what the services exported, and `tracecheck --watch` polling the same Jaeger-compatible
//! API and serving it as Prometheus metrics. A healthy shop is 100% complete; a service whose
//! exporter points at nothing, or a consumer that is not running, drops the figure and names
//! exactly the hop where the traces break.

use e2e::{TestStack, binary};
use reqwest::Method;
use serde_json::Value;
use std::{collections::BTreeMap, time::Duration};

const ORDERS: &str = "gateway POST /api/orders";
const LOOKUPS: &str = "gateway GET /api/inventory/{sku}";
const APPROVED: &str = "4242424242424242";
/// The services export every 100 ms in the tests: a trace quiet for 2 s has all its spans in.
const SETTLE: &str = "2s";

/// `/api/quality` once every trace of the run is judged and `ready` holds for it.
async fn quality_when(stack: &TestStack, ready: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{}/api/quality?settle={SETTLE}", stack.query_api());
    stack
        .eventually(Duration::from_secs(30), "the traces judged", || async {
            let quality: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            (quality["unsettled"] == 0 && ready(&quality)).then_some(quality)
        })
        .await
}

/// `root`'s row: (traces, complete).
fn root(quality: &Value, root: &str) -> (u64, u64) {
    quality["roots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["root"] == root)
        .map_or((0, 0), |r| {
            (
                r["traces"].as_u64().unwrap(),
                r["complete"].as_u64().unwrap(),
            )
        })
}

/// Every gap by hop, with its number of traces.
fn gaps(quality: &Value) -> BTreeMap<String, u64> {
    quality["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["hop"].as_str().unwrap().to_owned(),
                g["traces"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn shop(stack: &TestStack, orders: usize, lookups: usize) {
    let token = stack.login("alice", "alice123").await;
    for _ in 0..orders {
        let reply = stack.order(&token, "widget", 1, APPROVED).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    for _ in 0..lookups {
        let reply = stack
            .call(Method::GET, "/api/inventory/widget", None, &[], None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

#[tokio::test]
async fn a_healthy_shop_is_complete_and_its_figures_reach_prometheus_through_tracecheck() {
    let mut stack = TestStack::start().await;
    shop(&stack, 3, 3).await;
    let quality = quality_when(&stack, |q| {
        root(q, ORDERS).0 >= 3 && root(q, LOOKUPS).0 >= 3
    })
    .await;
    assert_eq!(quality["ratio"], 1.0, "{quality:#}");
    assert_eq!(root(&quality, ORDERS), (3, 3), "{quality:#}");
    assert!(gaps(&quality).is_empty(), "{quality:#}");

    // tracecheck's long-running mode, polling the same Jaeger-compatible API.
    let port = stack::unused_port();
    let mut watch = tokio::process::Command::new(binary("tracecheck"))
        .args(["--watch", "--api", &stack.query_api(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--settle-seconds", "2", "--poll-seconds", "1"])
        .kill_on_drop(true)
        .spawn()
        .expect("starting tracecheck --watch");
    let metrics = stack
        .eventually(Duration::from_secs(30), "tracecheck's metrics", || async {
            let url = format!("http://127.0.0.1:{port}/metrics");
            let reply = reqwest::get(url).await.ok()?;
            let text = reply.text().await.ok()?;
            text.contains("trace_quality_ratio{root=\"gateway POST /api/orders\"} 1")
                .then_some(text)
        })
        .await;
    assert!(
        metrics.contains("trace_quality_traces{root=\"gateway POST /api/orders\"} 3"),
        "{metrics}"
    );
    assert!(!metrics.contains("trace_quality_gap_traces{"), "{metrics}");
    watch.kill().await.unwrap();
    stack.stop().await;
}

#[tokio::test]
async fn an_exporter_pointed_at_nothing_drops_the_figure_and_names_that_hop() {
    // payment-service exports to a port nothing listens on: its spans never arrive.
    let mut stack = TestStack::start_configured(
        &[],
        &[(
            "payment-service",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://127.0.0.1:9",
        )],
    )
    .await;
    shop(&stack, 3, 2).await;
    let quality = quality_when(&stack, |q| {
        root(q, ORDERS).0 >= 3 && root(q, LOOKUPS).0 >= 2
    })
    .await;
    assert_eq!(root(&quality, ORDERS), (3, 0), "{quality:#}");
    assert_eq!(root(&quality, LOOKUPS), (2, 2), "{quality:#}");
    let expected = BTreeMap::from([
        (
            "order-service CLIENT POST /api/payments → no payment-service SERVER span".to_owned(),
            3,
        ),
        (
            "order-service CLIENT POST /internal/payments/{order_id}/capture → no \
             payment-service SERVER span"
                .to_owned(),
            3,
        ),
    ]);
    assert_eq!(gaps(&quality), expected, "{quality:#}");

    // The viewer's search marks exactly those traces.
    let url = format!("{}/api/quality/traces?settle={SETTLE}", stack.query_api());
    let incomplete: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(incomplete.len(), 3, "{incomplete:#?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_consumer_that_is_not_running_names_the_producer_consumer_hop() {
    let mut stack =
        TestStack::start_configured(&[], &[("inventory-service", "INVENTORY_CONSUMER", "false")])
            .await;
    shop(&stack, 2, 0).await;
    let quality = quality_when(&stack, |q| root(q, ORDERS).0 >= 2).await;
    assert_eq!(root(&quality, ORDERS), (2, 0), "{quality:#}");
    assert_eq!(
        gaps(&quality),
        BTreeMap::from([(
            "order-service PRODUCER publish orders.created → no CONSUMER span".to_owned(),
            2
        )]),
        "{quality:#}"
    );
    stack.stop().await;
}
