//! `docker compose up --build` on a real Docker engine, with the repository's files as they are:
//! every container healthy, an order's trace complete in Jaeger through the published ports, a
//! declined order kept whole under tail sampling, spans flushed and data kept across `stop` and
//! `up`, nothing left after `down -v` — and the stack's footprint printed (memory idle and under
//! load, image sizes, the build time). Needs a running Docker engine (tools/test.sh starts one)
//! and, where no registry is reachable, the stand-in images of tools/docker/standins.sh, which
//! this test builds when they are missing.

use e2e::{cards, workspace};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    process::Output,
    time::{Duration, Instant},
};
use tokio::process::Command;

/// Not the file's own project name, so a stack a developer runs is left alone.
const PROJECT: &str = "distributed-tracing-test";
const GATEWAY: &str = "http://127.0.0.1:8080";
const JAEGER: &str = "http://127.0.0.1:16686";
const SERVICES: [&str; 6] = [
    "gateway",
    "user-service",
    "auth-service",
    "order-service",
    "inventory-service",
    "payment-service",
];
/// Every container of the file: the six services and NATS, the Collector, Jaeger, Prometheus
/// and the trace quality, and the one-shot `identities` that issues the services' keys before
/// they start.
const CONTAINERS: usize = 12;

/// `docker compose -p PROJECT` in the workspace, with the Compose plugin built at the pinned
/// version (tools/backends/compose) in a Docker config folder of its own. Takes the stack down,
/// volumes and all, when dropped.
struct Compose {
    config: tempfile::TempDir,
}

impl Compose {
    fn new() -> Self {
        let config = tempfile::tempdir().unwrap();
        let plugins = config.path().join("cli-plugins");
        std::fs::create_dir(&plugins).unwrap();
        let plugin = stack::backends::binary("docker-compose").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(plugin, plugins.join("docker-compose")).unwrap();
        Self { config }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("compose")
            .args(["-p", PROJECT])
            .args(args)
            .current_dir(workspace())
            .env("DOCKER_CONFIG", self.config.path())
            // The classic builder builds the six images one after another, each reusing the
            // one build of every binary; in parallel each would compile everything.
            .env("COMPOSE_PARALLEL_LIMIT", "1")
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> String {
        self.run_with(&[], args).await
    }

    async fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        let output = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .await
            .expect("running docker compose");
        if !output.status.success() {
            panic!(
                "docker compose {args:?} failed ({}):\n{}\n{}\nlogs:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.logs(None).await
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `GET url` from inside `service`'s container (its busybox `wget`): for the ports compose
    /// does not publish.
    async fn fetch_inside(&self, service: &str, url: &str) -> String {
        self.run(&["exec", "-T", service, "wget", "-q", "-O", "-", url])
            .await
    }

    async fn logs(&self, service: Option<&str>) -> String {
        let mut args = vec!["logs", "--no-color", "--tail", "60"];
        args.extend(service);
        let output = self
            .command(&args)
            .output()
            .await
            .expect("docker compose logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// `docker compose ps -a`: one JSON object per container.
    async fn containers(&self) -> Vec<Value> {
        json_lines(&self.run(&["ps", "-a", "--format", "json"]).await)
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["compose", "-p", PROJECT, "down", "-v", "--remove-orphans"])
            .current_dir(workspace())
            .env("DOCKER_CONFIG", self.config.path())
            .output();
    }
}

/// Output that is one JSON value per line, or one JSON array (older Compose releases).
fn json_lines(out: &str) -> Vec<Value> {
    let out = out.trim();
    if out.starts_with('[') {
        return serde_json::from_str::<Vec<Value>>(out).expect("JSON");
    }
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .await
        .expect("running docker")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Memory in MiB from `docker stats`' "12.3MiB / 23.4GiB".
fn mebibytes(usage: &str) -> f64 {
    let used = usage.split('/').next().unwrap_or_default().trim();
    let digits = used
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(used.len());
    let (number, unit) = used.split_at(digits);
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("memory {usage:?}"));
    number
        * match unit {
            "B" => 1.0 / 1048576.0,
            "KiB" | "kB" => 1.0 / 1024.0,
            "MiB" | "MB" => 1.0,
            "GiB" | "GB" => 1024.0,
            other => panic!("memory unit {other:?} in {usage:?}"),
        }
}

/// The memory of every container of the stack, by compose service, from one `docker stats`.
async fn memory(compose: &Compose) -> BTreeMap<String, f64> {
    let ids = compose.run(&["ps", "-q"]).await;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let mut args = vec!["stats", "--no-stream", "--format", "{{json .}}"];
    args.extend(&ids);
    let output = docker(&args).await;
    assert!(output.status.success(), "docker stats: {output:?}");
    json_lines(&stdout(&output))
        .iter()
        .map(|stat| {
            let name = stat["Name"].as_str().unwrap();
            // PROJECT-SERVICE-1
            let service = name
                .strip_prefix(&format!("{PROJECT}-"))
                .and_then(|s| s.rsplit_once('-'))
                .map_or(name, |(service, _)| service);
            (
                service.to_owned(),
                mebibytes(stat["MemUsage"].as_str().unwrap()),
            )
        })
        .collect()
}

struct Shop {
    http: reqwest::Client,
}

impl Shop {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { http }
    }

    async fn login(&self) -> String {
        let response = self
            .http
            .post(format!("{GATEWAY}/api/login"))
            .json(&serde_json::json!({ "username": "alice", "password": "alice123" }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Places an order of one widget; its status, body and trace id.
    async fn order(&self, token: &str, card: &str) -> (u16, Value, String) {
        let response = self
            .http
            .post(format!("{GATEWAY}/api/orders"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "items": [{ "sku": "widget", "quantity": 1 }],
                "card_number": card,
            }))
            .send()
            .await
            .expect("order");
        let status = response.status().as_u16();
        let trace_id =
            tracecheck::traceresponse_trace_id(response.headers()).expect("traceresponse");
        (status, response.json().await.unwrap(), trace_id)
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{GATEWAY}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// The root span of `trace_id` in Jaeger, once the trace is there.
async fn jaeger_root(trace_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let trace: Value = reqwest::get(format!("{JAEGER}/api/traces/{trace_id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        let root = trace["data"][0]["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|span| span["references"].as_array().is_none_or(Vec::is_empty))
            .cloned();
        if let Some(root) = root {
            return root;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace_id} never reached Jaeger"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `tracecheck` against Jaeger's published query API: exits 0 once the trace is complete.
async fn tracecheck(args: &[&str]) -> String {
    let output = Command::new(e2e::binary("tracecheck"))
        .args(["--api", JAEGER, "--timeout", "90"])
        .args(args)
        .output()
        .await
        .expect("running tracecheck");
    let out = format!(
        "{}{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "tracecheck {args:?}:\n{out}");
    assert!(
        out.contains("complete: 6 services, one root, every hop joined"),
        "{out}"
    );
    out
}

/// The ORDERS stream's message count, from NATS's monitoring endpoint inside its container.
async fn stream_messages(compose: &Compose) -> u64 {
    let out = compose
        .fetch_inside("nats", "http://127.0.0.1:8222/jsz?streams=true")
        .await;
    let jsz: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    jsz["account_details"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|account| account["stream_detail"].as_array().into_iter().flatten())
        .find(|stream| stream["name"] == "ORDERS")
        .and_then(|stream| stream["state"]["messages"].as_u64())
        .unwrap_or_else(|| panic!("no ORDERS stream in {jsz}"))
}

async fn assert_all_healthy(compose: &Compose) {
    let containers = compose.containers().await;
    assert_eq!(containers.len(), CONTAINERS, "{containers:#?}");
    for container in &containers {
        let service = container["Service"].as_str().unwrap();
        if service == "identities" {
            assert_eq!(container["State"], "exited", "{container}");
            assert_eq!(container["ExitCode"], 0, "{container}");
            continue;
        }
        assert_eq!(container["State"], "running", "{service}: {container}");
        // The Collector's image has no shell or wget to probe with (see docker-compose.yml).
        let expected = if service == "otel-collector" {
            ""
        } else {
            "healthy"
        };
        assert_eq!(container["Health"], expected, "{service}: {container}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_up_serves_a_complete_trace_keeps_its_data_and_leaves_nothing_behind() {
    let engine = docker(&["info", "--format", "{{.ServerVersion}}"]).await;
    assert!(
        engine.status.success(),
        "no Docker engine answers (start dockerd; tools/test.sh does): {}",
        String::from_utf8_lossy(&engine.stderr)
    );
    let standins = std::process::Command::new("bash")
        .arg(workspace().join("tools/docker/standins.sh"))
        .env(
            "BACKENDS_DIR",
            stack::backends::dir().unwrap_or_else(|e| panic!("{e}")),
        )
        .output()
        .expect("running tools/docker/standins.sh");
    assert!(
        standins.status.success(),
        "standins.sh:\n{}{}",
        stdout(&standins),
        String::from_utf8_lossy(&standins.stderr)
    );
    println!("engine {}\n{}", stdout(&engine).trim(), stdout(&standins));

    let compose = Compose::new();
    println!("{}", compose.run(&["version"]).await.trim());
    compose.run(&["down", "-v", "--remove-orphans"]).await;

    // Up, built from the Dockerfile; --wait returns once every health check passes.
    let started = Instant::now();
    compose
        .run(&["up", "--build", "--wait", "--wait-timeout", "180"])
        .await;
    let up_seconds = started.elapsed().as_secs();
    assert_all_healthy(&compose).await;
    let idle = memory(&compose).await;

    // An order through the published gateway port, its trace complete in the published Jaeger.
    let out = tracecheck(&["--place-order", "--gateway", GATEWAY]).await;
    assert!(out.contains("order placed: 201 Created"), "{out}");
    assert!(out.contains("process orders.created"), "{out}");

    // A short load: stock lookups and orders from a few clients at once.
    let shop = Shop::new();
    let token = shop.login().await;

    // Sampling by the strategies Jaeger serves from sampling/strategies.json: orders always,
    // the decision on the root span.
    let strategy = compose
        .fetch_inside("jaeger", "http://127.0.0.1:5778/sampling?service=gateway")
        .await;
    let strategy: Value =
        serde_json::from_str(&strategy).unwrap_or_else(|e| panic!("{e}: {strategy}"));
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("sampling/strategies.json")).unwrap(),
    )
    .unwrap();
    let lookup = |operations: &Value| {
        operations
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["operation"] == "GET /api/inventory/{sku}")
            .cloned()
            .unwrap_or_else(|| panic!("no lookup strategy in {operations}"))
    };
    assert_eq!(
        lookup(&strategy["operationSampling"]["perOperationStrategies"])["probabilisticSampling"]
            ["samplingRate"]
            .as_f64(),
        lookup(&file["service_strategies"][0]["operation_strategies"])["param"].as_f64(),
        "{strategy}"
    );
    let (status, body, trace_id) = shop.order(&token, cards::APPROVED).await;
    assert_eq!(status, 201, "{body}");
    let root = jaeger_root(&trace_id).await;
    let tag = |root: &Value, key: &str| {
        root["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].clone())
    };
    assert_eq!(
        tag(&root, "sampler.type"),
        Some(json!("probabilistic")),
        "{root}"
    );
    assert_eq!(
        tag(&root, "sampler.param").and_then(|v| v.as_f64()),
        Some(1.0),
        "{root}"
    );
    // The page is never sampled; a lookup one in ten, and the first sampled one says so.
    let page = shop.http.get(format!("{GATEWAY}/")).send().await.unwrap();
    assert_eq!(
        tracecheck::traceresponse_sampled(page.headers()),
        Some(false),
        "the shop's page was sampled"
    );
    let mut sampled_lookup = None;
    for _ in 0..300 {
        let response = shop
            .http
            .get(format!("{GATEWAY}/api/inventory/widget"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if tracecheck::traceresponse_sampled(response.headers()) == Some(true) {
            sampled_lookup = tracecheck::traceresponse_trace_id(response.headers());
            break;
        }
    }
    // 300 lookups at 0.1, none sampled: a chance of 2e-14.
    let lookup = jaeger_root(&sampled_lookup.expect("a lookup sampled in 300")).await;
    assert_eq!(
        tag(&lookup, "sampler.param").and_then(|v| v.as_f64()),
        Some(0.1),
        "{lookup}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let token = token.clone();
            tokio::spawn(async move {
                let shop = Shop::new();
                let (mut answered, mut orders) = (0u64, 0u64);
                while Instant::now() < deadline {
                    if client == 0 {
                        let (status, body, _) = shop.order(&token, cards::APPROVED).await;
                        assert_eq!(status, 201, "an order failed under load: {body}");
                        orders += 1;
                        // A few orders a second: the seeded 1000 widgets must last.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    } else {
                        let (status, body) = shop.get(&token, "/api/inventory/widget").await;
                        assert_eq!(status, 200, "a lookup failed under load: {body}");
                    }
                    answered += 1;
                }
                (answered, orders)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let loaded = memory(&compose).await;
    let (mut requests, mut orders) = (0, 1); // tracecheck's order
    for client in clients {
        let (answered, ordered) = client.await.expect("a load client");
        requests += answered;
        orders += ordered;
    }

    // RED in Jaeger's Monitor tab: the load's calls per second for every service, from the
    // Collector's spanmetrics connector through Prometheus (a point needs two of the
    // connector's 15 s flushes).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let services: String = SERVICES.iter().map(|s| format!("service={s}&")).collect();
        let url = format!(
            "{JAEGER}/api/metrics/calls?{services}endTs={end}&lookback=300000&step=15000&ratePer=60000"
        );
        let calls: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let busy: BTreeSet<String> = calls["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|series| {
                series["metricPoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|point| {
                        point["gaugeValue"]["doubleValue"]
                            .as_f64()
                            .is_some_and(|rate| rate > 0.0)
                    })
            })
            .filter_map(|series| series["labels"][0]["value"].as_str().map(str::to_owned))
            .collect();
        if busy.len() == SERVICES.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Jaeger's Monitor tab has calls for {busy:?} only: {calls}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The latency buckets carry exemplars: trace ids of spans that fell in them.
    let exemplars = compose
        .fetch_inside(
            "prometheus",
            "http://127.0.0.1:9090/api/v1/query_exemplars?query=traces_span_metrics_duration_milliseconds_bucket&start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z",
        )
        .await;
    assert!(
        exemplars.contains("\"trace_id\""),
        "no exemplars: {exemplars}"
    );
    // Prometheus scrapes the Collector's own telemetry and the live trace quality.
    for (query, what) in [
        ("up{job=\"otel-collector\"}", "the Collector's telemetry"),
        ("up{job=\"trace-quality\"}", "tracecheck --watch"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let url = format!("http://127.0.0.1:9090/api/v1/query?query={query}");
            let out = compose.fetch_inside("prometheus", &url).await;
            if out.contains("\"value\":[") && out.contains(",\"1\"]") {
                break;
            }
            assert!(Instant::now() < deadline, "{what} not scraped: {out}");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    // Tail sampling: the Collector recreated with the other configuration keeps a declined
    // order's trace whole (it waits for the whole trace before it decides).
    compose
        .run_with(
            &[("OTELCOL_CONFIG", "otel-collector.tail-sampling.yaml")],
            &["up", "-d", "--wait", "otel-collector"],
        )
        .await;
    let (status, body, declined) = shop.order(&token, cards::DECLINED).await;
    assert_eq!(status, 402, "{body}");
    let out = tracecheck(&[&declined]).await;
    assert!(
        out.contains("ERROR"),
        "the declined payment is marked failed:\n{out}"
    );
    compose.run(&["up", "-d", "--wait", "otel-collector"]).await;

    // SIGTERM: the services stop right after an order, and flush its spans as they exit.
    let (status, placed, last) = shop.order(&token, cards::APPROVED).await;
    assert_eq!(status, 201, "{placed}");
    orders += 1;
    let order_id = placed["order_id"].as_str().expect("order_id").to_owned();
    let mut stop = vec!["stop"];
    stop.extend(SERVICES);
    compose.run(&stop).await;
    tracecheck(&[&last]).await;
    for service in SERVICES {
        let log = compose.logs(Some(service)).await;
        assert!(
            log.contains("shutdown signal received"),
            "{service} saw no SIGTERM:\n{log}"
        );
        assert!(
            !log.contains("telemetry shutdown failed"),
            "{service}:\n{log}"
        );
    }

    // Stop everything and start it again: the volumes keep the databases and the stream.
    let messages = stream_messages(&compose).await;
    assert!(
        messages >= 2,
        "the orders' events are in the stream: {messages}"
    );
    compose.run(&["stop"]).await;
    compose
        .run(&["up", "--wait", "--wait-timeout", "120"])
        .await;
    assert_all_healthy(&compose).await;
    assert_eq!(
        stream_messages(&compose).await,
        messages,
        "NATS kept its stream"
    );
    let token = shop.login().await;
    let (status, order) = shop.get(&token, &format!("/api/orders/{order_id}")).await;
    assert_eq!(status, 200, "order-service kept the order: {order}");
    assert_eq!(order["order_id"], order_id.as_str());
    // Every approved order's widget is sold (fulfilment is asynchronous: the stream's events
    // may still be consumed after the restart), and no unit is lost or made up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, stock) = shop.get(&token, "/api/inventory/widget").await;
        assert_eq!(status, 200, "{stock}");
        let count = |field: &str| {
            stock[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field}: {stock}"))
        };
        assert_eq!(
            count("available") + count("reserved") + count("sold"),
            1000,
            "the seeded stock, every unit accounted for: {stock}"
        );
        if count("sold") >= orders {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "inventory-service kept {} sold of the {orders} orders placed: {stock}",
            count("sold")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Down with the volumes: nothing of the project is left.
    compose.run(&["down", "-v"]).await;
    for kind in ["ps -a", "volume ls", "network ls"] {
        let mut args: Vec<&str> = kind.split(' ').collect();
        let filter = format!("label=com.docker.compose.project={PROJECT}");
        args.extend(["-q", "--filter", &filter]);
        let output = docker(&args).await;
        assert!(output.status.success(), "docker {kind}: {output:?}");
        assert_eq!(stdout(&output).trim(), "", "docker {kind} after down -v");
    }

    // The footprint.
    let mut sizes = Vec::new();
    for service in SERVICES {
        let image = format!("distributed-tracing/{service}:dev");
        let output = docker(&["image", "inspect", "-f", "{{.Size}}", &image]).await;
        assert!(output.status.success(), "{image}: {output:?}");
        let bytes: f64 = stdout(&output).trim().parse().unwrap();
        sizes.push((service, bytes / 1048576.0));
    }
    println!("\ncompose footprint (docker stats, MiB; images as docker image inspect sizes them)");
    println!("| container | idle | under load | image |");
    println!("|---|---|---|---|");
    for (service, idle_mib) in &idle {
        let image = sizes
            .iter()
            .find(|(name, _)| name == service)
            .map_or("—".to_owned(), |(_, mib)| format!("{mib:.1}"));
        let load = loaded.get(service).copied().unwrap_or_default();
        println!("| {service} | {idle_mib:.1} | {load:.1} | {image} |");
    }
    println!(
        "| all {} | {:.0} | {:.0} | {:.0} |",
        idle.len(),
        idle.values().sum::<f64>(),
        loaded.values().sum::<f64>(),
        sizes.iter().map(|(_, mib)| mib).sum::<f64>()
    );
    println!("load: {requests} requests ({orders} orders) from 6 clients in 20 s");
    println!("docker compose up --build --wait: {up_seconds} s (the build included)");
}
