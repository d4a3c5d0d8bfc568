//! The Collector's two tiers, as deploy/k8s runs them, with the real binaries on loopback: one
//! agent (`collector-agent.yaml`: `load_balancing` by trace ID, here over a static resolver
//! instead of the k8s one) in front of three tail-sampling gateways (`collector-gateway.yaml`,
//! the project's policies) in front of Jaeger, the six services exporting to the agent.
//!
//! Each gateway stamps the spans it handles with `collector.gateway`, so a trace split across
//! gateways — the failure tail sampling cannot survive: each gateway would decide on part of it —
//! shows in Jaeger as more than one value. Asserted: over at least 500 kept traces, none split
//! and none incomplete; with one gateway killed mid-run and restarted, still none split (the
//! static resolver never re-hashes), the traces broken by the lost gateway's memory counted and
//! printed with the time until every new trace was complete again, and every trace sent once it
//! is back complete.

use e2e::{Jaeger, TestStack, cards::APPROVED, workspace};
use futures_util::{StreamExt, stream};
use reqwest::Method;
use serde_json::{Value, json};
use stack::process::Process;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, SystemTime},
};
use tracecheck::Trace;

const GATEWAYS: usize = 3;
/// The tiers' decision wait, shortened from the ConfigMap's 10 s so the test takes seconds.
const DECISION_WAIT: Duration = Duration::from_secs(5);

/// A collector config file of deploy/k8s, as YAML to adapt to loopback.
fn config_map_file(name: &str) -> Value {
    let path = workspace().join("deploy/k8s/base/config").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap()
}

/// Starts `otelcol` with `config` (written under `dir` as `name.yaml`), healthy on `health`.
async fn collector(name: &str, config: &Value, health: u16, dir: &Path) -> Process {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, serde_norway::to_string(config).unwrap()).unwrap();
    let args = vec![
        "--config".to_owned(),
        file.display().to_string(),
        // No metrics of its own: several collectors on one machine would fight over :8888.
        "--set=service.telemetry.metrics.level=none".to_owned(),
    ];
    e2e::start_backend("otelcol", args, format!("http://127.0.0.1:{health}/"), dir).await
}

/// The gateway tier's config for gateway `index`: the ConfigMap's, on loopback ports, and with
/// a `resource` processor naming the gateway on every span it handles.
fn gateway_config(index: usize, grpc: u16, health: u16, jaeger_grpc: u16) -> Value {
    let mut config = config_map_file("collector-gateway.yaml");
    config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] =
        json!(format!("127.0.0.1:{grpc}"));
    config["exporters"]["otlp_grpc/jaeger"]["endpoint"] = json!(format!("127.0.0.1:{jaeger_grpc}"));
    config["extensions"]["health_check"]["endpoint"] = json!(format!("127.0.0.1:{health}"));
    config["processors"]["tail_sampling"]["decision_wait"] =
        json!(format!("{}s", DECISION_WAIT.as_secs()));
    config["processors"]["resource/which-gateway"] = json!({
        "attributes": [{ "key": "collector.gateway", "value": format!("gateway-{index}"), "action": "upsert" }]
    });
    let processors = config["service"]["pipelines"]["traces"]["processors"]
        .as_array_mut()
        .unwrap();
    processors.insert(1, json!("resource/which-gateway"));
    config
}

/// The agent's config: the ConfigMap's, on loopback, resolving the gateways statically.
fn agent_config(grpc: u16, http: u16, health: u16, gateways: &[u16]) -> Value {
    let mut config = config_map_file("collector-agent.yaml");
    config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] =
        json!(format!("127.0.0.1:{grpc}"));
    config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] =
        json!(format!("127.0.0.1:{http}"));
    config["extensions"]["health_check"]["endpoint"] = json!(format!("127.0.0.1:{health}"));
    let balancer = &mut config["exporters"]["load_balancing"];
    assert_eq!(balancer["routing_key"], "traceID");
    let hostnames: Vec<String> = gateways.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    balancer["resolver"] = json!({ "static": { "hostnames": hostnames } });
    config
}

/// Sends `count` requests through the gateway, 8 at a time — three reads of inventory or a
/// profile to one order — and returns each trace id with when its request was sent.
async fn load(stack: &TestStack, token: &str, count: usize) -> Vec<(String, SystemTime)> {
    stream::iter(0..count)
        .map(|i| async move {
            let sent = SystemTime::now();
            let reply = match i % 4 {
                0 => {
                    stack
                        .call(Method::GET, "/api/inventory/widget", Some(token), &[], None)
                        .await
                }
                1 => {
                    stack
                        .call(Method::GET, "/api/users/1", Some(token), &[], None)
                        .await
                }
                2 => {
                    stack
                        .call(Method::GET, "/api/inventory/gadget", Some(token), &[], None)
                        .await
                }
                _ => stack.order(token, "widget", 1, APPROVED).await,
            };
            assert!(
                reply.status < 300,
                "request {i}: {} {:?}",
                reply.status,
                reply.body
            );
            (reply.trace_id.expect("traceresponse"), sent)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// What Jaeger holds for the traces `sent`: per kept trace, whether it is complete by
/// tracecheck's rules and which gateways handled its spans.
#[derive(PartialEq)]
struct Kept {
    traces: BTreeMap<String, (bool, BTreeSet<String>)>,
    /// What is wrong with each incomplete trace, and the trace.
    problems: BTreeMap<String, String>,
}

impl Kept {
    async fn read(jaeger: &Jaeger, sent: &[(String, SystemTime)]) -> Self {
        // One search for every trace through the gateway since the first was sent (the limit
        // below the store's 50 000 traces, as Jaeger requires).
        let ids: BTreeSet<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
        let micros = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_micros()
        };
        let first = sent.iter().map(|(_, at)| *at).min().unwrap();
        let url = format!(
            "{}/api/traces?service=gateway&limit=40000&start={}&end={}",
            jaeger.query_api(),
            micros(first) - 1_000_000,
            micros(SystemTime::now())
        );
        let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let (mut traces, mut problems) = (BTreeMap::new(), BTreeMap::new());
        let found = body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{url}: {body}"));
        for raw in found {
            let trace_id = raw["traceID"].as_str().unwrap().to_owned();
            if !ids.contains(trace_id.as_str()) {
                continue; // another phase's, or the login's
            }
            let trace = Trace::from_jaeger(raw).unwrap();
            let gateways: BTreeSet<String> = raw["processes"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|process| process["tags"].as_array().cloned().unwrap_or_default())
                .filter(|tag| tag["key"] == "collector.gateway")
                .filter_map(|tag| tag["value"].as_str().map(str::to_owned))
                .collect();
            let wrong = trace.problems(&[]);
            if !wrong.is_empty() {
                problems.insert(trace_id.clone(), format!("{wrong:?}\n{}", trace.render()));
            }
            traces.insert(trace_id.clone(), (wrong.is_empty(), gateways));
        }
        Kept { traces, problems }
    }

    fn split(&self) -> Vec<&String> {
        self.traces
            .iter()
            .filter(|(_, (_, gateways))| gateways.len() > 1)
            .map(|(id, _)| id)
            .collect()
    }

    fn incomplete(&self) -> Vec<&String> {
        self.traces
            .iter()
            .filter(|(_, (complete, _))| !complete)
            .map(|(id, _)| id)
            .collect()
    }

    /// The first few incomplete traces, with what is wrong with them.
    fn explain(&self) -> String {
        self.problems
            .values()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn gateways(&self) -> BTreeSet<&String> {
        self.traces.values().flat_map(|(_, g)| g).collect()
    }
}

/// What Jaeger holds for `sent` once it has settled: the decision wait has passed since the last
/// request was sent, so every decision has fallen, and then every kept trace is complete and two
/// reads a second apart agree — or a minute has gone by, and the caller's assertions say what is
/// missing. (A kept trace's late spans, such as a consumer's, follow its decision through the
/// gateway's batches, seconds after the rest.)
async fn settled(jaeger: &Jaeger, sent: &[(String, SystemTime)]) -> Kept {
    let last = sent.iter().map(|(_, at)| *at).max().unwrap();
    if let Ok(left) = (last + DECISION_WAIT).duration_since(SystemTime::now()) {
        tokio::time::sleep(left).await;
    }
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let mut previous = Kept::read(jaeger, sent).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Kept::read(jaeger, sent).await;
        let whole = now.incomplete().is_empty() && now == previous;
        if whole || SystemTime::now() > deadline {
            return now;
        }
        previous = now;
    }
}

#[tokio::test]
async fn traces_stay_whole_across_three_tail_sampling_gateways_even_when_one_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let jaeger = Jaeger::start(dir.path()).await;
    let ports = |n| (0..n).map(|_| stack::unused_port()).collect::<Vec<u16>>();
    let (grpc, health) = (ports(GATEWAYS), ports(GATEWAYS));
    let mut gateways = Vec::new();
    for index in 0..GATEWAYS {
        let config = gateway_config(index, grpc[index], health[index], jaeger.otlp_grpc_port());
        gateways.push(
            collector(
                &format!("gateway-{index}"),
                &config,
                health[index],
                dir.path(),
            )
            .await,
        );
    }
    let agent_ports = ports(3);
    let config = agent_config(agent_ports[0], agent_ports[1], agent_ports[2], &grpc);
    let _agent = collector("agent", &config, agent_ports[2], dir.path()).await;
    let agent_endpoint = format!("http://127.0.0.1:{}", agent_ports[1]);
    // Six debug-built services, five collectors and Jaeger share two cores here: timeouts with
    // room, so every request is answered (what is measured is the traces, not the latency).
    let mut env = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", agent_endpoint.as_str())];
    for timeout in [
        "AUTH_TIMEOUT_MS",
        "USER_TIMEOUT_MS",
        "ORDER_TIMEOUT_MS",
        "INVENTORY_TIMEOUT_MS",
        "PAYMENT_TIMEOUT_MS",
    ] {
        env.push((timeout, "20000"));
    }
    // Nine thousand requests order more widgets than the catalogue's seed.
    env.push(("SEED_STOCK", "1000000"));
    let stack = TestStack::start_with(&env).await;
    let token = stack.login("alice", "alice123").await;

    // Steady: at least 500 kept traces (the ConfigMap keeps 10% plus errors and slow ones),
    // every one whole and handled by exactly one gateway.
    let sent = load(&stack, &token, 4500).await;
    let steady = settled(&jaeger, &sent).await;
    println!(
        "steady: {} requests, {} traces kept, over gateways {:?}",
        sent.len(),
        steady.traces.len(),
        steady.gateways()
    );
    assert!(steady.traces.len() >= 500, "{} kept", steady.traces.len());
    assert_eq!(
        steady.gateways().len(),
        GATEWAYS,
        "every gateway took traces"
    );
    assert_eq!(
        steady.split(),
        Vec::<&String>::new(),
        "split across gateways"
    );
    assert_eq!(
        steady.incomplete(),
        Vec::<&String>::new(),
        "incomplete in Jaeger:\n{}",
        steady.explain()
    );

    // One gateway killed mid-run (what it held for its decisions is gone) and restarted.
    let (before, during) = tokio::join!(load(&stack, &token, 1200), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        gateways[1].kill();
        tokio::time::sleep(Duration::from_secs(2)).await;
        gateways[1]
            .start(Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        SystemTime::now()
    });
    let restarted = during;
    let after = load(&stack, &token, 1000).await;
    // The later requests settled, so have the earlier ones.
    let back = settled(&jaeger, &after).await;

    let disturbed = Kept::read(&jaeger, &before).await;
    let broken = disturbed.incomplete();
    // When the last broken trace was sent, against the gateway's restart (negative: before).
    let last_broken = before
        .iter()
        .filter(|(id, _)| broken.contains(&id))
        .map(|(_, sent)| *sent)
        .max()
        .map(|last| match last.duration_since(restarted) {
            Ok(after) => after.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        });
    println!(
        "gateway-1 killed 1.5 s into a run of {} requests and restarted 2 s later: {} of {} kept \
         traces broken, none split; the last broken one was sent {} its restart",
        before.len(),
        broken.len(),
        disturbed.traces.len(),
        last_broken.map_or("(none was) at".to_owned(), |s| format!("{s:+.1} s from")),
    );
    assert_eq!(
        disturbed.split(),
        Vec::<&String>::new(),
        "split while a gateway was down"
    );

    // Once it is back, every trace is whole again.
    assert!(
        back.traces.len() > 50,
        "{} kept after the restart",
        back.traces.len()
    );
    assert_eq!(back.split(), Vec::<&String>::new());
    assert_eq!(
        back.incomplete(),
        Vec::<&String>::new(),
        "incomplete after the restart:\n{}",
        back.explain()
    );
    assert_eq!(
        back.gateways().len(),
        GATEWAYS,
        "the restarted gateway takes traces again"
    );
}
