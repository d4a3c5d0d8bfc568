//! The one-command local stack (`cargo run -p stack`), run as a process: every service healthy,
//! an order's trace complete in the embedded viewer — or, with `--backends real`, in the real
//! Jaeger behind the real Collector — and Ctrl-C stopping every child cleanly.

use e2e::{binary, cards::APPROVED};
use serde_json::{Value, json};
use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};
use tokio::process::Child;

/// An offset at which every port the stack uses is free right now, never the same twice in this
/// process (its tests run stacks side by side). Offsets stay below 3 300, so every port (4222 to
/// 16687, plus the offset) stays below 20 000: clear of the ports `stack::unused_port` hands out
/// (20 000–31 999) and of the kernel's ephemeral range (from 32 768), where any outgoing
/// connection may hold a port the stack is about to bind (seen once: inventory-service's port,
/// offset 35 822, taken).
fn free_offset() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 100 + (std::process::id() % 25) as u16 * 100;
    std::iter::repeat_with(|| NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        .take(20)
        .map(|i| base + i * 37)
        .find(|offset| {
            [
                8080u16, 8081, 8082, 8083, 8084, 8085, 4222, 4317, 4318, 13133, 13134, 14317,
                14318, 16685, 16686, 16687, 9090,
            ]
            .iter()
            .all(|port| std::net::TcpListener::bind(("127.0.0.1", port + offset)).is_ok())
        })
        .expect("a free port offset")
}

async fn wait_for_line(lines: &Lines, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !lines.all().iter().any(|l| l.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the stack's output:\n{}",
            lines.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pids the stack reported starting for `name`, in order.
fn started_pids(lines: &Lines, name: &str) -> Vec<i32> {
    let prefix = format!("{name} | started (pid ");
    lines
        .all()
        .iter()
        .filter_map(|l| l.trim_start().strip_prefix(&prefix))
        .filter_map(|rest| rest.trim_end_matches(')').parse().ok())
        .collect()
}

/// Exports one span over OTLP/gRPC to `127.0.0.1:port` and returns its trace id.
async fn export_over_grpc(port: u16) -> String {
    use opentelemetry_proto::tonic::{
        collector::trace::v1::{
            ExportTraceServiceRequest, trace_service_client::TraceServiceClient,
        },
        common::v1::{AnyValue, KeyValue, any_value::Value as Any},
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Span},
    };
    let trace_id = uuid::Uuid::new_v4();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let service = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue("grpc-probe".into())),
        }),
        ..Default::default()
    };
    let span = Span {
        trace_id: trace_id.as_bytes().to_vec(),
        span_id: trace_id.as_bytes()[..8].to_vec(),
        name: "probe".into(),
        start_time_unix_nano: now - 1_000_000,
        end_time_unix_nano: now,
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![service],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connecting over gRPC");
    TraceServiceClient::new(channel)
        .export(request)
        .await
        .expect("the gRPC export is accepted");
    trace_id.simple().to_string()
}

/// Where a stack process writes its output (a file, not a pipe: a stack stopping while nobody
/// reads could block on a full pipe).
struct Lines(std::path::PathBuf);

impl Lines {
    fn all(&self) -> Vec<String> {
        std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn text(&self) -> String {
        self.all().join("\n")
    }
}

/// Where nats-server comes from for a stack under test.
#[derive(Clone, Copy)]
enum Nats {
    /// On `PATH`, as a user who installed it has it: the one built at compose's version.
    OnPath,
    /// Nowhere: the stack builds it with Go, as it does on a fresh machine.
    Missing,
}

/// Runs the `stack` binary at `offset` with `args`, on the services the harness built (the
/// stack's own `cargo build -p …` would compile a second variant of the dependency graph, see
/// `stack::binaries::Selection`), and waits for its banner.
async fn start_stack(
    offset: u16,
    args: &[&str],
    dir: &std::path::Path,
    nats: Nats,
) -> (Stack, Lines) {
    let (stack, lines) = spawn_stack(offset, args, dir, nats);
    wait_for_line(&lines, "The stack is ready", Duration::from_secs(180)).await;
    (stack, lines)
}

/// `PATH` without any folder that holds a nats-server.
fn path_without_nats() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept = std::env::split_paths(&path).filter(|dir| !dir.join("nats-server").exists());
    std::env::join_paths(kept).expect("PATH entries without separators")
}

/// Starts the `stack` binary in `dir` without waiting for it. `--bin-dir` is given relative to
/// `dir`, as a user types it (`--bin-dir target/debug`): the stack resolves it there, not in the
/// data folder its children run in.
fn spawn_stack(offset: u16, args: &[&str], dir: &std::path::Path, nats: Nats) -> (Stack, Lines) {
    let bin_dir = binary("gateway").parent().unwrap();
    std::os::unix::fs::symlink(bin_dir, dir.join("bins")).expect("a link to the binaries");
    let path = match nats {
        Nats::OnPath => e2e::path_with_backends(),
        Nats::Missing => path_without_nats(),
    };
    let lines = Lines(dir.join("stack-output.log"));
    let log = std::fs::File::create(&lines.0).expect("the stack's log");
    let stack = tokio::process::Command::new(binary("stack"))
        .args(["--port-offset", &offset.to_string()])
        .args(["--bin-dir", "bins"])
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PATH", path)
        .env_remove("NATS_URL")
        .env_remove("OTELCOL_CONFIG")
        .env_remove("BACKENDS_DIR")
        .stdout(log.try_clone().expect("the stack's log"))
        .stderr(log)
        .spawn()
        .expect("starting the stack");
    (Stack(Some(stack)), lines)
}

/// The stack process. Dropped while it runs (a failed assertion), it gets SIGTERM and a few
/// seconds to stop its children, as Ctrl-C would: a SIGKILL would leave them running.
struct Stack(Option<Child>);

impl Drop for Stack {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        for _ in 0..300 {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.start_kill();
    }
}

/// Ctrl-C: the stack exits 0 and none of `children` is left behind.
async fn interrupt(mut stack: Stack, lines: &Lines, children: &[i32]) -> String {
    let mut stack = stack.0.take().expect("a running stack");
    let pid = nix::unistd::Pid::from_raw(stack.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), stack.wait())
        .await
        .expect("the stack exits")
        .unwrap();
    assert!(status.success(), "{status}: {}", lines.text());
    wait_for_line(lines, "stopped.", Duration::from_secs(5)).await;
    for child in children {
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*child), None).is_ok();
        assert!(!alive, "pid {child} outlived the stack");
    }
    lines.text()
}

#[tokio::test]
async fn sigterm_while_the_stack_starts_stops_every_child_it_started() {
    let offset = free_offset();
    let dir = tempfile::tempdir().unwrap();
    let (mut stack, lines) = spawn_stack(offset, &[], dir.path(), Nats::OnPath);
    // nats-server is up; the services are being started or waited for.
    wait_for_line(&lines, "nats | started (pid ", Duration::from_secs(60)).await;
    let mut child = stack.0.take().expect("a running stack");
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the stack exits")
        .unwrap();
    assert!(status.success(), "{status}: {}", lines.text());
    let output = lines.text();
    assert!(!output.contains("The stack is ready"), "{output}");
    assert!(output.contains("interrupted while starting"), "{output}");
    let started: Vec<i32> = ["nats", "auth-service", "user-service", "inventory-service"]
        .iter()
        .flat_map(|name| started_pids(&lines, name))
        .collect();
    assert!(!started.is_empty(), "{output}");
    for child in started {
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), None).is_ok();
        assert!(!alive, "pid {child} outlived the stack:\n{output}");
    }
}

#[tokio::test]
async fn the_stack_command_builds_what_it_lacks_runs_the_demo_and_ctrl_c_stops_every_child() {
    let offset = free_offset();
    let dir = tempfile::tempdir().unwrap();
    // A fresh machine with Go: no nats-server anywhere, so the stack builds it.
    let (stack, lines) = start_stack(offset, &[], dir.path(), Nats::Missing).await;
    let output = lines.text();
    assert!(
        output.contains("nats-server is not on PATH: building it"),
        "{output}"
    );

    // What the banner's curl does.
    let gateway = format!("http://127.0.0.1:{}", 8080 + offset);
    let viewer = format!("http://127.0.0.1:{}", 16686 + offset);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{gateway}/api/login"))
        .json(&json!({ "username": "alice", "password": "alice123" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order = http
        .post(format!("{gateway}/api/orders"))
        .bearer_auth(login["token"].as_str().unwrap())
        .json(&json!({ "items": [{ "sku": "widget", "quantity": 2 }], "card_number": APPROVED }))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201);
    let trace_id = tracecheck::traceresponse_trace_id(order.headers()).expect("traceresponse");

    // Its trace, from the embedded viewer's Jaeger-compatible API, holds all six services.
    let deadline = Instant::now() + Duration::from_secs(30);
    let services = loop {
        let body: Value = http
            .get(format!("{viewer}/api/traces/{trace_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let services: BTreeSet<String> = body["data"][0]["processes"]
            .as_object()
            .map(|p| {
                p.values()
                    .map(|p| p["serviceName"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        // Both async hops: the broker the stack built carries the order's events.
        let fulfilled = body["data"][0]["spans"].as_array().is_some_and(|spans| {
            spans
                .iter()
                .any(|span| span["operationName"] == "process orders.fulfilled")
        });
        if (services.len() == 6 && fulfilled) || Instant::now() > deadline {
            break (services, fulfilled);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (services, fulfilled) = services;
    assert_eq!(services.len(), 6, "{services:?}");
    assert!(fulfilled, "no process orders.fulfilled span in the trace");

    // OTLP/gRPC on 4317, as Jaeger takes it: a span exported there is in the viewer.
    let probe = export_over_grpc(4317 + offset).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http
        .get(format!("{viewer}/api/traces/{probe}"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the gRPC export never reached the viewer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = http.get(format!("{viewer}/search")).send().await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // A crashed child is reported with its last lines and started again.
    let payment_pid = started_pids(&lines, "payment-service")[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(payment_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for_line(
        &lines,
        "payment-service | exited unexpectedly",
        Duration::from_secs(10),
    )
    .await;
    wait_for_line(
        &lines,
        "payment-service | restarting in 1 s",
        Duration::from_secs(5),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while started_pids(&lines, "payment-service").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "payment-service was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let payment_url = format!("http://127.0.0.1:{}/healthz", 8085 + offset);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(&payment_url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the restarted payment-service is not healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The children it runs now: six services (payment-service's second life) and nats-server.
    let pids: Vec<i32> = [
        "nats",
        "gateway",
        "user-service",
        "auth-service",
        "order-service",
        "inventory-service",
    ]
    .iter()
    .map(|name| started_pids(&lines, name)[0])
    .chain([*started_pids(&lines, "payment-service").last().unwrap()])
    .collect();

    // Ctrl-C: every child stops, nothing is left behind, and the stack exits 0.
    let output = interrupt(stack, &lines, &pids).await;
    for service in e2e::SERVICES.map(|s| s.name) {
        assert!(
            output.contains(&format!("{service} | stopped (exit status: 0)")),
            "{service} did not exit cleanly:\n{output}"
        );
    }
}

#[tokio::test]
async fn the_stack_with_real_backends_runs_composes_topology() {
    let offset = free_offset();
    let dir = tempfile::tempdir().unwrap();
    let (stack, lines) =
        start_stack(offset, &["--backends", "real"], dir.path(), Nats::OnPath).await;
    let viewer = format!("http://127.0.0.1:{}", 16686 + offset);
    let jaeger = format!("http://127.0.0.1:{}", 16687 + offset);

    // The README's smoke check against :16686, where the viewer's UI reads the real Jaeger.
    let output = tokio::process::Command::new(binary("tracecheck"))
        .args(["--place-order", "--gateway"])
        .arg(format!("http://127.0.0.1:{}", 8080 + offset))
        .args(["--api", &viewer, "--timeout", "60"])
        .output()
        .await
        .expect("running tracecheck");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.contains("complete: 6 services, one root, every hop joined"),
        "{out}{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        lines.text()
    );
    // Jaeger's own API on :16687 says the same: six services.
    let services: Value = reqwest::get(format!("{jaeger}/api/services"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let services: BTreeSet<&str> = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for service in e2e::SERVICES.map(|s| s.name) {
        assert!(
            services.contains(service),
            "{service} not in Jaeger: {services:?}"
        );
    }
    // Jaeger's Monitor tab reads Prometheus (not "metrics querying is currently disabled"),
    // which the Collector writes RED metrics to.
    let minstep = reqwest::get(format!("{jaeger}/api/metrics/minstep"))
        .await
        .unwrap();
    assert_eq!(minstep.status(), 200, "{}", minstep.text().await.unwrap());
    let calls = reqwest::get(format!("{jaeger}/api/metrics/calls?service=gateway"))
        .await
        .unwrap();
    let status = calls.status();
    let calls: Value = calls.json().await.unwrap();
    assert!(
        status == 200 && calls["name"] == "service_call_rate",
        "{status} {calls}\n{}",
        lines.text()
    );
    // Trace quality over Jaeger (tracecheck's watch, polling every 10 s): the order is in its
    // window, judged once it has settled.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = reqwest::get(format!("{viewer}/api/quality")).await.unwrap();
        if reply.status() == 200 {
            let quality: Value = reply.json().await.unwrap();
            let seen = quality["traces"].as_u64().unwrap() + quality["unsettled"].as_u64().unwrap();
            if seen >= 1 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no trace quality over Jaeger");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = reqwest::get(format!("{viewer}/search")).await.unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let children: Vec<i32> = [
        "jaeger",
        "prometheus",
        "otel-collector",
        "nats",
        "gateway",
        "order-service",
    ]
    .iter()
    .map(|name| started_pids(&lines, name)[0])
    .collect();
    let output = interrupt(stack, &lines, &children).await;
    assert!(output.contains("otel-collector | stopped"), "{output}");
}
