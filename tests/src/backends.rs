//! [`Jaeger`], [`Collector`] and [`Prometheus`]: the real Jaeger v2, OpenTelemetry Collector and
//! Prometheus (built by `tools/backends/build.sh`) as processes on free loopback ports, running
//! the very files docker-compose.yml mounts, which tests can kill and start again.

use crate::process::{Process, resume, start_backend};
use stack::backends::{self, CollectorPorts, JaegerPorts};
use std::{path::Path, time::Duration};

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
        resume(&mut self.process).await;
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
        Self::start_reading(dir, None).await
    }

    /// [`Self::start`], its `/api/metrics/*` reading `prometheus` when given.
    pub async fn start_reading(dir: &Path, prometheus: Option<&Prometheus>) -> Self {
        let strategies = stack::binaries::workspace_root().join(backends::SAMPLING_STRATEGIES);
        Self::start_with(dir, prometheus, &strategies, &[]).await
    }

    /// [`Self::start`], serving the sampling strategies in `strategies`, a file the test may
    /// edit: Jaeger reads it again every `reload` (jaeger.yaml's is 5 s).
    pub async fn start_sampling(dir: &Path, strategies: &Path, reload: Duration) -> Self {
        let reload = format!(
            "--set=extensions.remote_sampling.file.reload_interval={}ms",
            reload.as_millis()
        );
        Self::start_with(dir, None, strategies, &[reload]).await
    }

    async fn start_with(
        dir: &Path,
        prometheus: Option<&Prometheus>,
        strategies: &Path,
        extra: &[String],
    ) -> Self {
        let ports = JaegerPorts {
            otlp_grpc: stack::unused_port(),
            otlp_http: stack::unused_port(),
            query_http: stack::unused_port(),
            query_grpc: stack::unused_port(),
            health: stack::unused_port(),
            sampling_http: stack::unused_port(),
            prometheus: prometheus.map(|p| p.ports),
        };
        let config = stack::binaries::workspace_root().join(backends::JAEGER_CONFIG);
        let mut args = backends::jaeger_args(&config, ports, strategies);
        args.extend_from_slice(extra);
        let health = format!("http://127.0.0.1:{}/status", ports.health);
        Backend {
            process: start_backend("jaeger", args, health, dir).await,
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

    /// The base URL of its sampling endpoint (`/sampling?service=NAME`).
    pub fn sampling_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.sampling_http)
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
            prometheus: None,
        };
        let config = stack::binaries::workspace_root().join(config);
        let args = backends::collector_args(&config, ports, jaeger.otlp_grpc_port());
        let health = format!("http://127.0.0.1:{}/", ports.health);
        Backend {
            process: start_backend("otelcol", args, health, dir).await,
            ports,
        }
    }

    /// The OTLP/HTTP endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.otlp_http)
    }
}

/// Prometheus with `prometheus.yml` and its remote-write receiver, on a free port.
pub type Prometheus = Backend<u16>;

impl Prometheus {
    /// Starts Prometheus with its data and log under `dir` and waits until `/-/ready` answers.
    pub async fn start(dir: &Path) -> Self {
        let port = stack::unused_port();
        let config = stack::binaries::workspace_root().join(backends::PROMETHEUS_CONFIG);
        let data = dir.join(format!("prometheus-{port}"));
        let args = backends::prometheus_args(&config, port, &data);
        let health = format!("http://127.0.0.1:{port}/-/ready");
        Backend {
            process: start_backend("prometheus", args, health, dir).await,
            ports: port,
        }
    }

    /// The port its API listens on.
    pub fn port(&self) -> u16 {
        self.ports
    }

    /// Its remote-write endpoint, for the Collector's `prometheusremotewrite` exporter.
    pub fn remote_write_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.ports)
    }
}
