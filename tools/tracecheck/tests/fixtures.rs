//! The checks against traces in Jaeger's `GET /api/traces/{id}` response format.

use serde_json::Value;
use tracecheck::{Span, Trace};

fn fixture(name: &str) -> Trace {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Trace::from_response(&body).unwrap()
}

#[test]
fn a_complete_trace_has_no_problems_and_renders_as_a_tree() {
    let trace = fixture("complete.json");
    assert_eq!(trace.spans.len(), 7);
    assert_eq!(
        trace.problems(&["gateway", "order-service", "inventory-service"]),
        Vec::<String>::new()
    );
    let tree = trace.render();
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].starts_with("gateway "), "{tree}");
    assert!(lines[2].starts_with("    order-service "), "{tree}");
    let consumer = lines
        .iter()
        .find(|l| l.contains("process orders.created"))
        .unwrap();
    assert!(
        consumer.starts_with("        inventory-service"),
        "the consumer sits under its producer:\n{tree}"
    );
    assert!(
        tree.lines()
            .any(|l| l.contains("publish orders.created") && l.ends_with("ERROR")),
        "{tree}"
    );
}

#[test]
fn missing_services_roots_orphans_and_unjoined_hops_are_all_reported() {
    let trace = fixture("broken.json");
    let problems = trace.problems(&["gateway", "order-service", "payment-service"]);
    let expected = [
        "no span from payment-service",
        "2 root spans, expected exactly one",
        "unjoined call: gateway POST /api/orders has no SERVER child",
        "orphan: order-service INSERT orders (parent ffffffffffffffff missing)",
        "unjoined message: order-service publish orders.created has no CONSUMER child",
    ];
    for problem in expected {
        assert!(
            problems.iter().any(|p| p == problem),
            "missing {problem:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    // The same gaps by hop, without ids: what a live quality figure counts traces by.
    let hops: Vec<String> = trace.gaps().iter().map(tracecheck::Gap::hop).collect();
    assert_eq!(
        hops,
        [
            "2 root spans",
            "gateway CLIENT POST /api/orders → no callee SERVER span",
            "order-service INSERT orders → its parent span never arrived",
            "order-service PRODUCER publish orders.created → no CONSUMER span",
        ],
        "{hops:#?}"
    );
    // Orphans are still printed.
    assert!(trace.render().contains("INSERT orders"));
}

#[test]
fn a_response_without_a_trace_is_an_error() {
    let not_found: Value = serde_json::json!({
        "data": null, "total": 0, "limit": 0, "offset": 0,
        "errors": [{ "code": 404, "msg": "trace not found" }]
    });
    assert!(Trace::from_response(&not_found).is_err());
}

#[test]
fn a_publish_the_stream_dropped_as_a_duplicate_has_nothing_to_join() {
    let path = format!("{}/tests/fixtures/broken.json", env!("CARGO_MANIFEST_DIR"));
    let mut body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for span in body["data"][0]["spans"].as_array_mut().unwrap() {
        if span["operationName"] == "publish orders.created" {
            span["tags"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "key": "messaging.nats.duplicate", "type": "bool", "value": true
                }));
        }
    }
    let problems = Trace::from_response(&body)
        .unwrap()
        .problems(&["gateway", "order-service"]);
    assert!(
        problems.iter().all(|p| !p.starts_with("unjoined message")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("unjoined call")),
        "{problems:#?}"
    );
}

#[test]
fn a_failed_attempt_that_was_resent_has_nothing_to_join_and_one_that_was_not_does() {
    let span = |id: &str, parent: Option<&str>, service: &str, kind: &str, start_us, error| Span {
        span_id: id.to_owned(),
        parent_id: parent.map(str::to_owned),
        service: service.to_owned(),
        operation: "GET /api/stock/{sku}".to_owned(),
        kind: Some(kind.to_owned()),
        start_us,
        duration_us: 10,
        error,
        http: kind == "client",
        peer: (kind == "client").then(|| "inventory-service".to_owned()),
        duplicate: false,
    };
    let mut trace = Trace {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        spans: vec![
            span("a1", None, "gateway", "server", 0, false),
            // Refused twice, answered on the third attempt.
            span("b1", Some("a1"), "gateway", "client", 1, true),
            span("b2", Some("a1"), "gateway", "client", 60, true),
            span("b3", Some("a1"), "gateway", "client", 170, false),
            span("c1", Some("b3"), "inventory-service", "server", 171, false),
        ],
    };
    assert_eq!(trace.problems(&[]), Vec::<String>::new());
    // The last attempt failed too and was not sent again: its missing SERVER span counts.
    trace.spans.truncate(3);
    assert_eq!(
        trace.problems(&[]),
        ["unjoined call: gateway GET /api/stock/{sku} has no SERVER child"]
    );
    assert_eq!(
        trace.gaps()[0].hop(),
        "gateway CLIENT GET /api/stock/{sku} → no inventory-service SERVER span"
    );
}
