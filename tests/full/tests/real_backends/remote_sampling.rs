//! Jaeger remote sampling for real: Jaeger v2's `remote_sampling` extension serves a strategies
//! file, the six services sample by it (`parentbased_jaeger_remote`), and the test counts what
//! they decided — each answer's `traceresponse` flags and the root spans that arrived.
//!
//! Tolerance: a trace-id ratio sampler at rate p over n random trace ids samples a binomial
//! count, mean np, standard deviation √(np(1−p)); the test allows five standard deviations
//! either way (a false failure about once in 1.7 million runs).

use e2e::{Jaeger, TestStack};
use reqwest::Method;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

/// The services' polling interval here (the compose stack polls every 5 s).
const POLL: Duration = Duration::from_millis(500);
/// Jaeger's `reload_interval` here (jaeger.yaml's is 5 s).
const RELOAD: Duration = Duration::from_secs(1);
const LOOKUP: &str = "GET /api/inventory/{sku}";
const LOOKUP_RATE: f64 = 0.2;
const LOOKUPS: usize = 500;

fn strategies(openapi_rate: f64) -> Value {
    json!({
        "default_strategy": {"type": "probabilistic", "param": 1.0},
        "service_strategies": [{
            "service": "gateway",
            "type": "probabilistic",
            "param": 1.0,
            "operation_strategies": [
                {"operation": LOOKUP, "type": "probabilistic", "param": LOOKUP_RATE},
                {"operation": "GET /openapi.json", "type": "probabilistic", "param": openapi_rate}
            ]
        }]
    })
}

/// Writes the file as an editor saves it: a new file renamed over the old one.
fn write_strategies(file: &Path, strategies: &Value) {
    let new = file.with_extension("new");
    std::fs::write(&new, serde_json::to_vec_pretty(strategies).unwrap()).unwrap();
    std::fs::rename(&new, file).unwrap();
}

/// A request through the gateway, and what this test reads of the answer: (status, trace id,
/// sampled).
async fn call(
    stack: &TestStack,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String, bool) {
    let reply = stack.call(method, path, None, headers, body).await;
    let trace_id = reply.trace_id.expect("every answer names its trace");
    (
        reply.status,
        trace_id,
        reply.sampled.expect("readable trace flags"),
    )
}

/// A stock lookup through the gateway.
async fn lookup(stack: &TestStack) -> (u16, String, bool) {
    call(stack, Method::GET, "/api/inventory/widget", &[], None).await
}

/// Waits until `service`'s log shows it holds a strategy naming `needle`.
async fn wait_for_strategy(stack: &TestStack, service: &str, needle: &str) {
    stack
        .eventually(
            Duration::from_secs(20),
            "the strategy from Jaeger",
            || async {
                stack
                    .log(service)
                    .lines()
                    .any(|line| line.contains("sampling strategy from") && line.contains(needle))
                    .then_some(())
            },
        )
        .await;
}

/// Calls `GET /openapi.json` until its sampled flag is `sampled`; how long that took.
async fn until_sampled_is(stack: &TestStack, sampled: bool) -> Duration {
    let edited = Instant::now();
    loop {
        let (status, _, now) = call(stack, Method::GET, "/openapi.json", &[], None).await;
        assert_eq!(status, 200);
        if now == sampled {
            return edited.elapsed();
        }
        assert!(
            edited.elapsed() < RELOAD + POLL + Duration::from_secs(10),
            "the edit never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn services_sample_by_the_strategies_jaeger_serves_and_follow_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("strategies.json");
    write_strategies(&file, &strategies(0.0));
    let jaeger = Jaeger::start_sampling(dir.path(), &file, RELOAD).await;
    let arg = format!(
        "endpoint={}/sampling,pollingIntervalMs={},initialSamplingRate=0",
        jaeger.sampling_url(),
        POLL.as_millis()
    );
    let stack = TestStack::start_with(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", &arg),
    ])
    .await;
    // Nothing is sampled until the strategy arrives (initialSamplingRate=0): wait for it.
    wait_for_strategy(&stack, "gateway", LOOKUP).await;

    // The rates from the file: per operation at the gateway, which makes every root.
    let mut decided: HashMap<&str, Vec<(String, bool)>> = HashMap::new();
    for _ in 0..LOOKUPS {
        let (status, trace_id, sampled) = lookup(&stack).await;
        assert_eq!(status, 200);
        decided.entry(LOOKUP).or_default().push((trace_id, sampled));
    }
    for _ in 0..50 {
        let (status, trace_id, sampled) =
            call(&stack, Method::GET, "/openapi.json", &[], None).await;
        assert_eq!(status, 200);
        decided
            .entry("GET /openapi.json")
            .or_default()
            .push((trace_id, sampled));
    }
    let login = json!({"username": "alice", "password": "alice123"});
    for _ in 0..20 {
        let (status, trace_id, sampled) =
            call(&stack, Method::POST, "/api/login", &[], Some(login.clone())).await;
        assert_eq!(status, 200);
        decided
            .entry("POST /api/login")
            .or_default()
            .push((trace_id, sampled));
    }
    let sampled = |op: &str| decided[op].iter().filter(|(_, s)| *s).count();
    let n = LOOKUPS as f64;
    let (mean, sd) = (
        n * LOOKUP_RATE,
        (n * LOOKUP_RATE * (1.0 - LOOKUP_RATE)).sqrt(),
    );
    let lookups = sampled(LOOKUP) as f64;
    println!("{LOOKUP}: {lookups} of {LOOKUPS} sampled (expected {mean} ± {sd:.1})");
    assert!(
        (lookups - mean).abs() <= 5.0 * sd,
        "{lookups} of {LOOKUPS} lookups sampled at rate {LOOKUP_RATE}"
    );
    assert_eq!(sampled("GET /openapi.json"), 0, "a rate of 0 samples none");
    assert_eq!(sampled("POST /api/login"), 20, "the service's default, 1");

    // Every sampled answer's root arrived, saying which strategy sampled it.
    let roots = |op: &'static str| {
        let ids: Vec<String> = decided[op]
            .iter()
            .filter(|(_, s)| *s)
            .map(|(id, _)| id.clone())
            .collect();
        stack.spans().filter(move |span| {
            span.service_name == "gateway"
                && span.parent_span_id.is_none()
                && span.name == op
                && ids.contains(&span.trace_id)
        })
    };
    let expected_roots = sampled(LOOKUP) + sampled("POST /api/login");
    stack
        .eventually(Duration::from_secs(20), "every sampled root", || async {
            (roots(LOOKUP).len() + roots("POST /api/login").len() == expected_roots).then_some(())
        })
        .await;
    for (op, rate) in [(LOOKUP, LOOKUP_RATE), ("POST /api/login", 1.0)] {
        for root in roots(op) {
            assert_eq!(
                root.attr_str("sampler.type"),
                Some("probabilistic"),
                "{root:?}"
            );
            assert_eq!(
                root.attr("sampler.param").and_then(Value::as_f64),
                Some(rate),
                "{root:?}"
            );
        }
    }

    // Parent-based: inventory-service's own strategy is the default, 1, yet it records nothing
    // of a lookup the gateway did not sample — and every span of one it did.
    for (trace_id, sampled) in &decided[LOOKUP] {
        if *sampled {
            stack
                .wait_for_trace(trace_id, &["gateway", "inventory-service"])
                .await;
        }
    }
    for (trace_id, _) in decided[LOOKUP].iter().filter(|(_, s)| !*s) {
        assert!(
            stack.spans().trace(trace_id).is_empty(),
            "spans of the unsampled trace {trace_id}: {:?}",
            stack.spans().trace(trace_id)
        );
    }
    // A caller's unsampled context is followed, whatever the file says of the operation.
    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let (status, trace_id, sampled) = call(
        &stack,
        Method::POST,
        "/api/login",
        &[("traceparent", unsampled)],
        Some(login.clone()),
    )
    .await;
    assert_eq!((status, sampled), (200, false));
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");

    // The file edited while everything runs: the new rate within Jaeger's reload interval plus
    // the services' polling interval, both ways.
    write_strategies(&file, &strategies(1.0));
    let on = until_sampled_is(&stack, true).await;
    write_strategies(&file, &strategies(0.0));
    let off = until_sampled_is(&stack, false).await;
    println!("an edit took {on:?} (0 → 1) and {off:?} (1 → 0) to apply");
    for took in [on, off] {
        assert!(
            took <= RELOAD + POLL + Duration::from_secs(2),
            "{took:?} to apply an edit (reload {RELOAD:?} + poll {POLL:?})"
        );
    }
    let answer: Value = reqwest::get(format!(
        "{}/sampling?service=gateway",
        jaeger.sampling_url()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        answer["operationSampling"]["perOperationStrategies"][1],
        json!({"operation": "GET /openapi.json", "probabilisticSampling": {"samplingRate": 0}}),
        "{answer}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_leaves_the_initial_rate_and_fails_no_request() {
    let nothing_there = format!("http://127.0.0.1:{}", stack::unused_port());
    let arg = format!("endpoint={nothing_there},pollingIntervalMs=500,initialSamplingRate=1");
    let stack = TestStack::start_with(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
        ("OTEL_TRACES_SAMPLER_ARG", &arg),
    ])
    .await;
    stack
        .eventually(Duration::from_secs(20), "the warning", || async {
            stack
                .log("gateway")
                .contains(&format!(
                    "remote sampling: {nothing_there}/sampling?service=gateway did not answer"
                ))
                .then_some(())
        })
        .await;
    for _ in 0..20 {
        let (status, trace_id, sampled) = lookup(&stack).await;
        assert_eq!((status, sampled), (200, true), "the initial rate, 1");
        stack
            .wait_for_trace(&trace_id, &["gateway", "inventory-service"])
            .await;
    }
    // Said once per outage, not on every poll.
    let warnings = stack.log("gateway").matches("did not answer").count();
    assert_eq!(warnings, 1, "{}", stack.log("gateway"));
}
