//! The user's path for real: the OpenTelemetry Collector and Jaeger v2 built from the Go module
//! proxy at the versions docker-compose.yml runs, loading the very files compose mounts, with
//! the six services exporting to the Collector and the traces read back from Jaeger's query API.

use e2e::{Collector, Jaeger, TestStack, binary, cards::APPROVED, dotenv, workspace};
use reqwest::Method;
use serde_json::{Value, json};
use stack::backends::{self, COLLECTOR_CONFIGS, JAEGER_CONFIG};
use std::{
    process::Command,
    time::{Duration, Instant, SystemTime},
};
use tracecheck::Trace;

#[path = "real_backends/remote_sampling.rs"]
mod remote_sampling;

fn backend(name: &str) -> std::path::PathBuf {
    backends::binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a built backend with `args` in the workspace root: (success, stdout + stderr).
fn run(name: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(backend(name))
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn every_collector_config_passes_the_real_collectors_validate() {
    for config in COLLECTOR_CONFIGS {
        let (ok, out) = run("otelcol", &["validate", "--config", config]);
        assert!(ok, "otelcol validate --config {config}:\n{out}");
    }
}

#[test]
fn jaeger_config_passes_jaegers_validate_and_a_typo_does_not() {
    let (ok, out) = run("jaeger", &["validate", "--config", JAEGER_CONFIG]);
    assert!(ok, "jaeger validate --config {JAEGER_CONFIG}:\n{out}");

    let config = std::fs::read_to_string(workspace().join(JAEGER_CONFIG)).unwrap();
    let typo = config.replace("max_traces:", "max_trace:");
    assert_ne!(typo, config);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.yaml");
    std::fs::write(&file, typo).unwrap();
    let (ok, out) = run("jaeger", &["validate", "--config", file.to_str().unwrap()]);
    assert!(!ok && out.contains("invalid keys: max_trace"), "{out}");
}

#[test]
fn validate_refuses_the_queue_that_kept_the_collector_from_starting() {
    // The form the compose configs had: max_size below the default min_size (8192).
    let config = std::fs::read_to_string(workspace().join("otel-collector.yaml")).unwrap();
    let broken = config.replace("        min_size: 1024\n", "");
    assert_ne!(broken, config, "otel-collector.yaml sets min_size");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, broken).unwrap();
    let (ok, out) = run("otelcol", &["validate", "--config", file.to_str().unwrap()]);
    assert!(!ok, "a broken config passed validate:\n{out}");
    assert!(
        out.contains("must be greater or equal to `min_size` (8192)"),
        "{out}"
    );
}

#[test]
fn the_backends_tested_are_the_versions_compose_runs() {
    let env = dotenv();
    let compose = std::fs::read_to_string(workspace().join("docker-compose.yml")).unwrap();

    // The Collector: the built distribution, every component in its manifest, compose's image.
    let otelcol = &env["OTELCOL_VERSION"];
    let (_, out) = run("otelcol", &["--version"]);
    assert_eq!(out.trim(), format!("otelcol version {otelcol}"));
    let manifest =
        std::fs::read_to_string(workspace().join("tools/backends/otelcol-builder.yaml")).unwrap();
    let components: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- gomod: "))
        .collect();
    assert!(components.len() >= 10, "{components:?}");
    for component in components {
        assert!(
            component.ends_with(&format!(" v{otelcol}")),
            "{component} is not at the collector release v{otelcol}"
        );
    }
    assert!(
        compose.contains(&format!(
            "otel/opentelemetry-collector-contrib:${{OTELCOL_VERSION:-{otelcol}}}"
        )),
        "compose's collector image is not {otelcol}"
    );

    // Jaeger: JAEGER_VERSION 2.N.P is tagged v1.(N+63).P for Go; the binary says which it is.
    let jaeger = &env["JAEGER_VERSION"];
    let parts: Vec<u32> = jaeger.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts[0], 2, "JAEGER_VERSION {jaeger} is Jaeger v2");
    let module_version = format!("v1.{}.{}", parts[1] + 63, parts[2]);
    let build_info = Command::new("go")
        .args(["version", "-m"])
        .arg(backend("jaeger"))
        .output()
        .expect("go version -m");
    let build_info = String::from_utf8_lossy(&build_info.stdout);
    assert!(
        build_info.lines().any(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.get(1) == Some(&"github.com/jaegertracing/jaeger")
                && fields.get(2) == Some(&module_version.as_str())
        }),
        "the jaeger binary is not built from {module_version}:\n{build_info}"
    );
    assert!(compose.contains(&format!(
        "jaegertracing/jaeger:${{JAEGER_VERSION:-{jaeger}}}"
    )));

    // NATS: the image tag is the server's version plus the image flavour.
    let nats = &env["NATS_VERSION"];
    let (_, out) = run("nats-server", &["--version"]);
    let server_version = nats.trim_end_matches("-alpine");
    assert_eq!(out.trim(), format!("nats-server: v{server_version}"));
    assert!(compose.contains(&format!("nats:${{NATS_VERSION:-{nats}}}")));

    // Prometheus: the binary reports PROMETHEUS_VERSION; the image is tagged v<version>.
    let prometheus = &env["PROMETHEUS_VERSION"];
    let (_, out) = run("prometheus", &["--version"]);
    assert!(
        out.starts_with(&format!("prometheus, version {prometheus} ")),
        "{out}"
    );
    assert!(compose.contains(&format!(
        "prom/prometheus:v${{PROMETHEUS_VERSION:-{prometheus}}}"
    )));
}

/// The trace `trace_id` from Jaeger's query API, once one is stored.
async fn jaeger_trace(api: &str, trace_id: &str) -> Option<Value> {
    let response = reqwest::get(format!("{api}/api/traces/{trace_id}"))
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["data"].as_array()?.first().cloned()
}

/// Polls Jaeger until `done` holds for the trace (every 200 ms, up to `timeout`).
async fn wait_for_jaeger_trace(
    api: &str,
    trace_id: &str,
    timeout: Duration,
    done: impl Fn(&Trace) -> bool,
) -> Trace {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(raw) = jaeger_trace(api, trace_id).await {
            let trace = Trace::from_jaeger(&raw).expect("Jaeger's trace model");
            if done(&trace) {
                return trace;
            }
            last = Some(trace);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "trace {trace_id} never became what was awaited in Jaeger; it had:\n{}",
        last.map(|t| t.render()).unwrap_or_else(|| "nothing".into())
    );
}

#[tokio::test]
async fn an_order_through_the_collector_into_jaeger_is_one_complete_trace() {
    let dir = tempfile::tempdir().unwrap();
    let jaeger = Jaeger::start(dir.path()).await;
    let collector = Collector::start("otel-collector.yaml", &jaeger, dir.path()).await;
    let stack =
        TestStack::start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.otlp_endpoint())]).await;

    // The README's smoke check, against Jaeger's real query API.
    let output = tokio::process::Command::new(binary("tracecheck"))
        .args(["--place-order", "--gateway", &stack.url("gateway")])
        .args(["--api", &jaeger.query_api(), "--timeout", "60"])
        .output()
        .await
        .expect("running tracecheck");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{out}");
    assert!(
        output.status.success(),
        "{out}\ncollector log:\n{}",
        collector.log()
    );
    assert!(out.contains("order placed: 201 Created"), "{out}");
    assert!(
        out.contains("complete: 6 services, one root, every hop joined"),
        "{out}"
    );
    assert!(out.contains("process orders.created"), "{out}");

    // Span by span from Jaeger's model: kinds and the redaction of the card number.
    let trace_id = out
        .lines()
        .find_map(|l| l.strip_prefix("trace "))
        .and_then(|l| l.split(':').next())
        .expect("tracecheck names the trace");
    let raw = jaeger_trace(&jaeger.query_api(), trace_id)
        .await
        .expect("the trace is in Jaeger");
    let kinds: Vec<&str> = raw["spans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tags"].as_array().unwrap())
        .filter(|t| t["key"] == "span.kind")
        .filter_map(|t| t["value"].as_str())
        .collect();
    for kind in ["server", "client", "producer", "consumer"] {
        assert!(kinds.contains(&kind), "no {kind} span: {kinds:?}");
    }
    let text = raw.to_string();
    assert!(!text.contains(APPROVED), "a card number in Jaeger");
    assert!(
        !text.contains(&stack.jwt_secret),
        "the JWT secret in Jaeger"
    );
}

/// One OTLP/JSON span, as any exporter would send it, with `attributes` and resource
/// attributes `resource`.
fn otlp_span(
    trace_id: &str,
    name: &str,
    attributes: &[(&str, &str)],
    resource: &[(&str, &str)],
) -> Value {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let attrs = |pairs: &[(&str, &str)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": { "stringValue": v } }))
            .collect()
    };
    json!({ "resourceSpans": [{
        "resource": { "attributes": attrs(resource) },
        "scopeSpans": [{
            "scope": { "name": "real-backends-test" },
            "spans": [{
                "traceId": trace_id,
                "spanId": &trace_id[..16],
                "name": name,
                "kind": 2,
                "startTimeUnixNano": (now - 5_000_000).to_string(),
                "endTimeUnixNano": now.to_string(),
                "attributes": attrs(attributes),
            }]
        }]
    }]})
}

#[tokio::test]
async fn the_collector_scrubs_secrets_before_they_reach_jaeger() {
    let dir = tempfile::tempdir().unwrap();
    let jaeger = Jaeger::start(dir.path()).await;
    for config in COLLECTOR_CONFIGS {
        let collector = Collector::start(config, &jaeger, dir.path()).await;
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        let secrets = [
            ("password", "hunter2-password"),
            ("http.request.header.authorization", "Bearer secret-token-1"),
            ("http.request.header.cookie", "session=secret-cookie"),
            ("card_number", APPROVED),
            ("payment.card.number", "4000000000000002"),
            ("db.query.parameter.0", "secret-db-parameter-0"),
            ("db.query.parameter.email", "secret-db-parameter-email"),
            ("app.api_key", "secret-api-key"),
        ];
        let kept = [
            ("http.request.method", "POST"),
            ("db.query.text", "SELECT * FROM users WHERE email = ?"),
        ];
        let attributes: Vec<(&str, &str)> = secrets.iter().chain(&kept).copied().collect();
        let resource = [
            ("service.name", "redaction-test"),
            ("api_key", "secret-resource-api-key"),
            ("token", "secret-resource-token"),
        ];
        // The tail-sampling config keeps an error or a slow trace for sure: make it an error.
        let mut body = otlp_span(&trace_id, "secrets", &attributes, &resource);
        body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"] = json!({ "code": 2 });
        let response = reqwest::Client::new()
            .post(format!("{}/v1/traces", collector.otlp_endpoint()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{config}: {response:?}");

        let api = jaeger.query_api();
        // Tail sampling decides 10 s after a trace's first span.
        wait_for_jaeger_trace(&api, &trace_id, Duration::from_secs(30), |_| true).await;
        let raw = jaeger_trace(&api, &trace_id).await.unwrap();
        let text = raw.to_string();
        for (key, value) in secrets {
            assert!(
                !text.contains(value),
                "{config}: {key} reached Jaeger: {raw}"
            );
        }
        assert!(!text.contains("secret-resource"), "{config}: {raw}");
        for (key, value) in kept {
            assert!(
                text.contains(key) && text.contains(value),
                "{config}: {key} was scrubbed too: {raw}"
            );
        }
    }
}

#[tokio::test]
async fn tail_sampling_keeps_every_error_and_slow_trace_whole_and_about_a_tenth_of_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let jaeger = Jaeger::start(dir.path()).await;
    let collector =
        Collector::start("otel-collector.tail-sampling.yaml", &jaeger, dir.path()).await;
    let stack =
        TestStack::start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.otlp_endpoint())]).await;
    let token = stack.login("alice", "alice123").await;

    // Healthy first: by the time the later traces are decided, these are too.
    const HEALTHY: usize = 300;
    let mut healthy = Vec::new();
    for _ in 0..HEALTHY {
        let reply = stack
            .call(Method::GET, "/api/inventory/widget", None, &[], None)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        healthy.push(reply.trace_id.unwrap());
    }
    // Must be kept: failed orders (the processor errs; every service is crossed) and requests
    // slowed past the 500 ms latency policy.
    let mut must_keep = Vec::new();
    for _ in 0..3 {
        let reply = stack.order(&token, "widget", 1, "4000000000000119").await;
        assert!(reply.status >= 500, "{:?}", reply.body);
        must_keep.push(reply.trace_id.unwrap());
    }
    for _ in 0..3 {
        let reply = stack
            .call(
                Method::GET,
                "/api/inventory/widget",
                None,
                &[("baggage", "fault.inventory-service=slow:700")],
                None,
            )
            .await;
        assert_eq!(reply.status, 200);
        must_keep.push(reply.trace_id.unwrap());
    }

    let api = jaeger.query_api();
    for trace_id in &must_keep {
        let trace = wait_for_jaeger_trace(&api, trace_id, Duration::from_secs(60), |t| {
            t.spans.len() > 1
        })
        .await;
        let services: Vec<&str> = {
            let mut s: Vec<&str> = trace.spans.iter().map(|s| s.service.as_str()).collect();
            s.sort();
            s.dedup();
            s
        };
        let problems = trace.problems(&services);
        assert!(
            problems.is_empty(),
            "kept trace {trace_id} is partial: {problems:?}\n{}",
            trace.render()
        );
        assert!(services.contains(&"gateway") && services.contains(&"inventory-service"));
    }
    // The processor-error orders crossed order- and payment-service: kept whole, all of them.
    for trace_id in &must_keep[..3] {
        let trace = Trace::from_jaeger(&jaeger_trace(&api, trace_id).await.unwrap()).unwrap();
        assert!(
            trace
                .problems(&["gateway", "order-service", "payment-service"])
                .is_empty(),
            "{}",
            trace.render()
        );
    }

    // Every decision is made by now (the healthy traces are older); give the exports a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut kept = 0;
    for trace_id in &healthy {
        if let Some(raw) = jaeger_trace(&api, trace_id).await {
            let trace = Trace::from_jaeger(&raw).unwrap();
            let problems = trace.problems(&["gateway", "inventory-service"]);
            assert!(
                problems.is_empty(),
                "partial: {problems:?}\n{}",
                trace.render()
            );
            kept += 1;
        }
    }
    // 10% of 300 is 30, with a binomial standard deviation of 5.2: 10..=50 is ±3.8σ, a
    // false failure about once in 7000 runs.
    println!("tail sampling kept {kept} of {HEALTHY} healthy traces (configured: 10%)");
    assert!((10..=50).contains(&kept), "kept {kept} of {HEALTHY}");
}

/// One answer under load: when it came, its status, its trace id.
type Answer = (Instant, u16, String);

/// A steady stream of stock lookups (gateway → inventory-service), one every 20 ms, while the
/// test breaks a backend; records every answer's status and trace id.
struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Answer>>,
}

impl Load {
    fn start(stack: &TestStack) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let url = format!("{}/api/inventory/widget", stack.url("gateway"));
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut answers = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            while !*stopped.borrow_and_update() {
                tick.tick().await;
                let response = http.get(&url).send().await.expect("the gateway answers");
                let trace_id =
                    tracecheck::traceresponse_trace_id(response.headers()).unwrap_or_default();
                answers.push((Instant::now(), response.status().as_u16(), trace_id));
            }
            answers
        });
        Load { stop, task }
    }

    async fn finish(self) -> Vec<Answer> {
        self.stop.send(true).unwrap();
        self.task.await.unwrap()
    }
}

/// The largest peak resident memory (`VmHWM`, the kernel's high-water mark) of the six services,
/// in KiB.
fn services_peak_kib(stack: &TestStack) -> u64 {
    e2e::SERVICES
        .iter()
        .filter_map(|service| stack::status_kib(stack.pid(service.name)?, "VmHWM"))
        .max()
        .expect("the services' /proc status")
}

/// How many of `trace_ids` Jaeger has, whole (gateway and inventory-service joined).
async fn found_whole(api: &str, trace_ids: &[&String]) -> usize {
    let mut found = 0;
    for trace_id in trace_ids {
        if let Some(raw) = jaeger_trace(api, trace_id).await {
            let trace = Trace::from_jaeger(&raw).unwrap();
            if trace.problems(&["gateway", "inventory-service"]).is_empty() {
                found += 1;
            }
        }
    }
    found
}

/// A service's peak resident memory under this load, collector down or not. The exporter's
/// queue is bounded (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048 spans): spans beyond it are dropped, not kept.
const RSS_BOUND_MIB: u64 = 64;

#[tokio::test]
async fn backends_down_lose_spans_never_requests_and_memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut jaeger = Jaeger::start(dir.path()).await;
    let mut collector = Collector::start("otel-collector.yaml", &jaeger, dir.path()).await;
    let stack =
        TestStack::start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.otlp_endpoint())]).await;
    let api = jaeger.query_api();
    let outage = Duration::from_secs(10);

    // 1. The collector killed for 10 s under load, then started again.
    let load = Load::start(&stack);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed = Instant::now();
    collector.kill();
    tokio::time::sleep(outage).await;
    collector.resume().await;
    let resumed = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answers = load.finish().await;
    let peak_kib = services_peak_kib(&stack);
    let failed: Vec<_> = answers.iter().filter(|(_, s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "requests failed with the collector down: {failed:?}"
    );
    let far_future = Instant::now() + Duration::from_secs(3600);
    // Every trace answered a second after the restart arrives, whole.
    let after = ids_between(&answers, resumed + Duration::from_secs(1), far_future);
    let last = after.last().expect("requests after the restart");
    wait_for_jaeger_trace(&api, last, Duration::from_secs(30), |t| {
        t.problems(&["gateway", "inventory-service"]).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_found = found_whole(&api, &after).await;
    let during = ids_between(&answers, killed, resumed);
    let during_found = found_whole(&api, &during).await;
    println!(
        "collector down {} s: {} of {} traces begun during the outage lost; after the restart \
         {after_found} of {} arrived whole; {} requests, none failed; peak service RSS {} MiB \
         (bound {RSS_BOUND_MIB} MiB)",
        outage.as_secs(),
        during.len() - during_found,
        during.len(),
        after.len(),
        answers.len(),
        peak_kib / 1024,
    );
    assert_eq!(
        after_found,
        after.len(),
        "traces after the restart were lost"
    );
    assert!(peak_kib / 1024 <= RSS_BOUND_MIB, "peak RSS {peak_kib} KiB");

    // 2. Jaeger killed for 10 s behind the running collector: its queue holds and retries.
    let load = Load::start(&stack);
    tokio::time::sleep(Duration::from_secs(2)).await;
    jaeger.kill(); // in-memory storage: what it held is gone with it
    let killed = Instant::now();
    tokio::time::sleep(outage).await;
    jaeger.resume().await;
    let resumed = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answers = load.finish().await;
    assert!(answers.iter().all(|(_, s, _)| *s == 200), "requests failed");
    // Sent while Jaeger was down: the collector's queue delivers them once it is back (its
    // retries back off up to 30 s).
    let during = ids_between(&answers, killed + Duration::from_secs(1), resumed);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut during_found = 0;
    while Instant::now() < deadline {
        during_found = found_whole(&api, &during).await;
        if during_found == during.len() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "Jaeger down {} s behind the collector: {} of {} traces sent during the outage lost",
        outage.as_secs(),
        during.len() - during_found,
        during.len(),
    );
    assert_eq!(
        during_found,
        during.len(),
        "the collector's queue lost traces; its log:\n{}",
        collector.log()
    );
}

/// The trace ids of the answers received between `from` and `to`.
fn ids_between(answers: &[Answer], from: Instant, to: Instant) -> Vec<&String> {
    answers
        .iter()
        .filter(|(at, _, _)| *at >= from && *at < to)
        .map(|(_, _, id)| id)
        .collect()
}
