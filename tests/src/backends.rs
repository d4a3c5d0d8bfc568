//! [`Jaeger`] and [`Collector`]: the real Jaeger v2 and OpenTelemetry Collector (built by
//! `tools/backends/build.sh`) as processes on free loopback ports, running the very files
//! docker-compose.yml mounts, which tests can kill and start again.

use stack::backends::{self, CollectorPorts, JaegerPorts};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One backend process: its command line, its log, and how to tell it is up.
struct Process {
    name: String,
    binary: PathBuf,
    args: Vec<String>,
    health_url: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    async fn start(name: &str, args: Vec<String>, health_url: String, dir: &Path) -> Self {
        let binary = backends::binary(name).unwrap_or_else(|e| panic!("{e}"));
        let mut process = Process {
            name: name.to_owned(),
            binary,
            args,
            health_url,
            log: dir.join(format!("{name}-{}.log", stack::unused_port())),
            child: None,
        };
        process.resume().await;
        process
    }

    /// Starts the process (again) and waits until its health endpoint answers 200.
    async fn resume(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        self.child = Some(child);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = http
                .get(&self.health_url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if healthy {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{} did not become healthy at {} ({exited:?}); its log:\n{}",
                self.name,
                self.health_url,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running backend and the loopback ports it was given.
pub struct Backend<Ports> {
    process: Process,
    ports: Ports,
}

impl<Ports> Backend<Ports> {
    /// Kills it (SIGKILL): what it held in memory is lost.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same ports and waits until it is healthy.
    pub async fn resume(&mut self) {
        self.process.resume().await;
    }

    /// Its captured output.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// Jaeger v2 with `jaeger.yaml`: in-memory storage, the query API on a free port.
pub type Jaeger = Backend<JaegerPorts>;

impl Jaeger {
    /// Starts Jaeger with its log under `dir` and waits until `/status` answers.
    pub async fn start(dir: &Path) -> Self {
        let ports = JaegerPorts {
            otlp_grpc: stack::unused_port(),
            otlp_http: stack::unused_port(),
            query_http: stack::unused_port(),
            query_grpc: stack::unused_port(),
            health: stack::unused_port(),
        };
        let config = stack::binaries::workspace_root().join(backends::JAEGER_CONFIG);
        let args = backends::jaeger_args(&config, ports);
        let health = format!("http://127.0.0.1:{}/status", ports.health);
        Backend {
            process: Process::start("jaeger", args, health, dir).await,
            ports,
        }
    }

    /// The port of its OTLP/gRPC receiver.
    pub fn otlp_grpc_port(&self) -> u16 {
        self.ports.otlp_grpc
    }

    /// Its OTLP/HTTP endpoint (POST `/v1/traces`).
    pub fn otlp_http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_http)
    }

    /// The base URL of its HTTP query API (`/api/traces/{id}`).
    pub fn query_api(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.query_http)
    }
}

/// The OpenTelemetry Collector with one of the compose collector configs, exporting to a
/// [`Jaeger`].
pub type Collector = Backend<CollectorPorts>;

impl Collector {
    /// Starts `otelcol` with `config` (e.g. `otel-collector.yaml`) exporting to `jaeger`, its log
    /// under `dir`, and waits until its health check answers.
    pub async fn start(config: &str, jaeger: &Jaeger, dir: &Path) -> Self {
        let ports = CollectorPorts {
            otlp_grpc: stack::unused_port(),
            otlp_http: stack::unused_port(),
            health: stack::unused_port(),
        };
        let config = stack::binaries::workspace_root().join(config);
        let args = backends::collector_args(&config, ports, jaeger.otlp_grpc_port());
        let health = format!("http://127.0.0.1:{}/", ports.health);
        Backend {
            process: Process::start("otelcol", args, health, dir).await,
            ports,
        }
    }

    /// The OTLP/HTTP endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_http)
    }
}
