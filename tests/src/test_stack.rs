//! [`TestStack`]: the six service binaries as real processes, wired to each other and to an
//! OTLP receiver, with their logs captured.

use crate::{NatsServer, Trace, process::Process};
use otlp_receiver::{Receiver, SpanStore};
use serde_json::Value;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, Instant},
};

/// The stack's services: binary (and `service.name`), package, default port, URL variable.
pub use stack::topology::SERVICES;

/// Tools, and the example service, the tests run as processes too.
const TOOLS: [&str; 4] = ["tracecheck", "stack", "loadtest", "checkout-service"];

/// Variables a developer's shell might carry that would redirect or silence the exporters.
const INHERITED_OTEL_VARS: [&str; 7] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
];

/// Builds the workspace's binaries once per test process and returns their paths by name.
/// Cargo reports the paths, so any target dir or profile works. The selection is every target of
/// the default members: the dependency graph `cargo test` has just built, so only the binaries
/// are linked (a narrower `-p` selection unifies features differently and compiles much of the
/// graph a second time).
fn binaries() -> &'static HashMap<String, PathBuf> {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let binaries = stack::binaries::build(
            stack::binaries::Selection::DefaultMembersAllTargets,
            !cfg!(debug_assertions),
        )
        .unwrap_or_else(|e| panic!("building the service binaries: {e}"));
        for binary in stack::topology::names().chain(TOOLS) {
            assert!(
                binaries.contains_key(binary),
                "cargo built no `{binary}` binary"
            );
        }
        binaries
    })
}

/// The path of a workspace binary the tests run (a service or a tool such as `tracecheck`),
/// built on first use.
pub fn binary(name: &str) -> &'static Path {
    binaries()
        .get(name)
        .unwrap_or_else(|| panic!("no binary {name}"))
}

/// One running (or stopped) service process.
struct Service {
    name: &'static str,
    port: u16,
    process: Process,
}

/// An HTTP answer from the stack.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The trace id from the `traceresponse` header.
    pub trace_id: Option<String>,
    /// Whether that header says the trace was sampled.
    pub sampled: Option<bool>,
    /// The JSON body (`Null` when the body is not JSON).
    pub body: Value,
    /// The `Proxy-Status` header: which service, behind the one answering, failed.
    pub proxy_status: Option<String>,
}

/// The six services, started as processes on free ports, exporting to an in-process receiver.
pub struct TestStack {
    receiver: Receiver,
    nats: NatsServer,
    services: Vec<Service>,
    http: reqwest::Client,
    /// Second processes of services ([`Self::start_replica`]) and binaries started beside the
    /// stack ([`Self::start_beside`]).
    replicas: Vec<Process>,
    dir: tempfile::TempDir,
    /// Every service's identity as the stack issued it, loaded once: a credential signed with
    /// one is reused for its half-minute, as the services do.
    identities: HashMap<&'static str, service_kit::Identity>,
    /// The JWT secret of this stack, to check that it never leaks.
    pub jwt_secret: String,
}

impl TestStack {
    /// Starts the stack with the default test settings.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the stack with `extra` environment variables for every service.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        Self::start_configured(extra, &[]).await
    }

    /// Starts the stack with `extra` variables for every service and `per_service`
    /// `(service, variable, value)` settings on top.
    pub async fn start_configured(
        extra: &[(&str, &str)],
        per_service: &[(&str, &str, &str)],
    ) -> Self {
        binaries(); // build before anything starts, so a build error fails fast
        let receiver = Receiver::start("127.0.0.1:0".parse().unwrap())
            .await
            .expect("starting the OTLP receiver");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let nats = NatsServer::start(dir.path()).await;
        let ports: HashMap<&str, u16> = stack::topology::names()
            .map(|name| (name, stack::unused_port()))
            .collect();
        let jwt_secret = format!("test-secret-{}", uuid::Uuid::new_v4());

        let identities = stack::issue_identities(dir.path()).expect("issuing identities");
        let mut services = Vec::new();
        for name in stack::topology::names() {
            // The same wiring as the local stack's, on free ports.
            let mut env = stack::service_env(
                name,
                |service| ports[service],
                dir.path(),
                &identities,
                &receiver.endpoint(),
                &nats.url(),
            );
            env.extend([
                ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
                // Fast retries so dead-lettering takes a second, not a minute.
                ("CONSUMER_MAX_DELIVER".into(), "3".into()),
                ("CONSUMER_RETRY_DELAY_MS".into(), "100".into()),
                // A killed consumer's unacknowledged events come back after 2 s, not 30.
                ("CONSUMER_ACK_WAIT_MS".into(), "2000".into()),
                ("AUTH_JWT_SECRET".into(), jwt_secret.clone()),
                ("RUST_LOG".into(), "info".into()),
            ]);
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            env.extend(
                per_service
                    .iter()
                    .filter(|(service, _, _)| *service == name)
                    .map(|(_, k, v)| (k.to_string(), v.to_string())),
            );
            let process = Process::new(
                name,
                &binaries()[name],
                dir.path().join(format!("{name}.log")),
            )
            .envs(env)
            .without_env(&INHERITED_OTEL_VARS)
            .health(format!("http://127.0.0.1:{}/healthz", ports[name]));
            services.push(Service {
                name,
                port: ports[name],
                process,
            });
        }
        let identities = stack::topology::names()
            .map(|name| {
                let identity = service_kit::Identity::from_dir(&identities, name)
                    .expect("the stack issued every service an identity");
                (name, identity)
            })
            .collect();
        let mut stack = TestStack {
            receiver,
            nats,
            services,
            http: reqwest::Client::new(),
            replicas: Vec::new(),
            dir,
            identities,
            jwt_secret,
        };
        for name in stack::topology::names() {
            stack.spawn(name);
        }
        for name in stack::topology::names() {
            stack.wait_healthy(name).await;
        }
        stack
    }

    /// The stack's NATS server.
    pub fn nats(&mut self) -> &mut NatsServer {
        &mut self.nats
    }

    /// Waits until inventory-service's consumer has nothing pending and nothing awaiting an ack:
    /// from then on no delivery, first or repeated, can still come.
    pub async fn wait_for_consumer_idle(&self, timeout: Duration) {
        stack::events::consumers_idle(&self.nats.url(), &["inventory"], timeout)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops one service with SIGTERM (a graceful stop that flushes its spans), and SIGKILL if it
    /// has not exited 10 s later, as `docker compose stop` does; true if it exited by itself.
    pub async fn stop_service(&mut self, name: &str) -> bool {
        self.service(name)
            .process
            .stop(Duration::from_secs(10))
            .await
    }

    /// Starts a second process of the service `name` — the same binary, database and broker, on
    /// a port of its own — and waits until it is healthy; it runs until the stack is dropped.
    /// Returns its base URL.
    pub async fn start_replica(&mut self, name: &str) -> String {
        let port = stack::unused_port();
        let log = self.dir.path().join(format!("{name}-replica-{port}.log"));
        let mut replica = self
            .service(name)
            .process
            .replica(&format!("{name} (replica)"), log)
            .health(format!("http://127.0.0.1:{port}/healthz"));
        replica.set_env("LISTEN_ADDR", &format!("127.0.0.1:{port}"));
        replica
            .start(Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.replicas.push(replica);
        format!("http://127.0.0.1:{port}")
    }

    /// Starts another binary of the workspace beside the stack — a service that is not one of the
    /// six, such as `examples/checkout` — on a port of its own, exporting to the stack's receiver
    /// as the six do, with `env` on top, and waits until `GET /healthz` answers. It runs until the
    /// stack is dropped. Returns its base URL.
    pub async fn start_beside(&mut self, binary_name: &str, env: &[(&str, &str)]) -> String {
        let port = stack::unused_port();
        let log = self.dir.path().join(format!("{binary_name}.log"));
        let mut vars = vec![
            ("LISTEN_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                self.receiver.endpoint(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned()),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut process = Process::new(binary_name, binary(binary_name), log)
            .envs(vars)
            .without_env(&INHERITED_OTEL_VARS)
            .health(format!("http://127.0.0.1:{port}/healthz"));
        process
            .start(Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.replicas.push(process);
        format!("http://127.0.0.1:{port}")
    }

    /// Kills one service with SIGKILL: no draining, no flushing, as in a crash.
    pub fn kill_service(&mut self, name: &str) {
        self.service(name).process.kill();
    }

    /// Starts a stopped service again with `overrides` on top of its environment (an override
    /// stays until overridden again), and waits until it is healthy.
    pub async fn start_service(&mut self, name: &str, overrides: &[(&str, &str)]) {
        let service = self.service(name);
        for (key, value) in overrides {
            service.process.set_env(key, value);
        }
        self.spawn(name);
        self.wait_healthy(name).await;
    }

    fn service(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    fn spawn(&mut self, name: &str) {
        self.service(name)
            .process
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn wait_healthy(&mut self, name: &str) {
        self.service(name)
            .process
            .wait_healthy(Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The process id of a running service.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.process.pid())
    }

    /// The base URL of a service (`http://127.0.0.1:PORT`).
    pub fn url(&self, name: &str) -> String {
        let service = self
            .services
            .iter()
            .find(|s| s.name == name)
            .expect("known service");
        format!("http://127.0.0.1:{}", service.port)
    }

    /// The receiver's OTLP/HTTP base URL (the value of `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn otlp_endpoint(&self) -> String {
        self.receiver.endpoint()
    }

    /// The base URL of the receiver's Jaeger-compatible query API (`/api/traces/{id}`).
    pub fn query_api(&self) -> String {
        self.receiver.query_url()
    }

    /// The spans received so far.
    pub fn spans(&self) -> &SpanStore {
        self.receiver.store()
    }

    /// The identity of the service `name`, as the stack issued it: a test calls a service
    /// directly in another service's name with `identity.credential_for(callee)` in the
    /// `Service-Authorization` header.
    pub fn identity(&self, name: &'static str) -> service_kit::Identity {
        self.identities
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the stack issued no identity to {name}"))
    }

    /// A request to `path` on the service `callee`, signed in the name of `caller`.
    pub fn signed(
        &self,
        caller: &'static str,
        method: reqwest::Method,
        callee: &'static str,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let credential = self
            .identity(caller)
            .credential_for(callee)
            .expect("an issued identity signs");
        self.http
            .request(method, format!("{}{path}", self.url(callee)))
            .header(service_kit::identity::SERVICE_AUTHORIZATION, credential)
    }

    /// The SQLite database file of one service.
    pub fn database(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }

    /// The captured stdout and stderr of one service.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The captured output of every service.
    pub fn logs(&self) -> String {
        stack::topology::names()
            .map(|name| self.log(name))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Sends a request to the gateway; `token` becomes a bearer `Authorization`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url("gateway")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let trace_id = tracecheck::traceresponse_trace_id(response.headers());
        let sampled = tracecheck::traceresponse_sampled(response.headers());
        let proxy_status = response
            .headers()
            .get("proxy-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            trace_id,
            sampled,
            body,
            proxy_status,
        }
    }

    /// Logs in through the gateway and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let reply = self
            .call(
                reqwest::Method::POST,
                "/api/login",
                None,
                &[],
                Some(serde_json::json!({ "username": username, "password": password })),
            )
            .await;
        assert_eq!(reply.status, 200, "login failed: {:?}", reply.body);
        reply.body["token"].as_str().expect("a token").to_owned()
    }

    /// Reads an order through the gateway, as its customer.
    pub async fn get_order(&self, token: &str, order_id: &str) -> Reply {
        self.call(
            reqwest::Method::GET,
            &format!("/api/orders/{order_id}"),
            Some(token),
            &[],
            None,
        )
        .await
    }

    /// Places an order through the gateway.
    pub async fn place_order(&self, token: &str, items: Value, card_number: &str) -> Reply {
        self.place_order_with(token, items, card_number, &[]).await
    }

    /// [`Self::place_order`] with extra request `headers` (`baggage`, `traceparent`). An error
    /// answer names in its body the trace its `traceresponse` names: checked here, for every
    /// order a test places.
    pub async fn place_order_with(
        &self,
        token: &str,
        items: Value,
        card_number: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = serde_json::json!({ "items": items, "card_number": card_number });
        let reply = self
            .call(
                reqwest::Method::POST,
                "/api/orders",
                Some(token),
                headers,
                Some(body),
            )
            .await;
        // Untraced (the SDK disabled), there is neither.
        if let Some(trace_id) = reply.trace_id.as_deref()
            && reply.status >= 400
        {
            assert_eq!(
                reply.body["trace_id"].as_str(),
                Some(trace_id),
                "{}",
                reply.body
            );
        }
        reply
    }

    /// Places an order of `quantity` × `sku` with `card_number`.
    pub async fn order(&self, token: &str, sku: &str, quantity: i64, card_number: &str) -> Reply {
        let items = serde_json::json!([{ "sku": sku, "quantity": quantity }]);
        self.place_order(token, items, card_number).await
    }

    /// Waits until the trace is complete with spans of every service in `services`: one root, no
    /// orphan, every HTTP call and every published message joined to its callee's span
    /// ([`Trace::problems`]; services export in batches of their own, so a trace arrives piece
    /// by piece). Panics with what did arrive, and what is missing, on timeout.
    pub async fn wait_for_trace(&self, trace_id: &str, services: &[&str]) -> Trace {
        self.wait_for(
            trace_id,
            &format!("a complete trace with spans of {services:?}"),
            |trace| trace.problems(services).is_empty(),
        )
        .await
    }

    /// Waits until the trace has no orphan span and `done` holds for it, then returns it. Panics
    /// with `what` and the spans that did arrive when that takes too long.
    pub async fn wait_for(
        &self,
        trace_id: &str,
        what: &str,
        done: impl Fn(&Trace) -> bool,
    ) -> Trace {
        let complete = |spans: &[otlp_receiver::SpanRecord]| {
            let trace = Trace::new(
                spans
                    .iter()
                    .filter(|s| s.trace_id == trace_id)
                    .cloned()
                    .collect(),
            );
            trace.orphans().is_empty() && done(&trace)
        };
        if !self
            .spans()
            .wait_until(Duration::from_secs(30), complete)
            .await
        {
            let trace = Trace::new(self.spans().trace(trace_id));
            panic!(
                "trace {trace_id} never had {what}; received:\n{}problems: {:?}",
                trace.render(),
                trace.problems(&[])
            );
        }
        Trace::new(self.spans().trace(trace_id))
    }

    /// Sends SIGTERM to every service and waits for them to exit (they flush spans on the way).
    /// Async on purpose: the receiver runs on the test's runtime and must keep answering the
    /// final exports while the services shut down.
    pub async fn stop(&mut self) {
        for replica in &mut self.replicas {
            replica.stop(Duration::from_secs(10)).await;
        }
        for service in &self.services {
            service.process.terminate();
        }
        for service in &mut self.services {
            service.process.stop(Duration::from_secs(10)).await;
        }
    }

    /// The stock of a SKU as inventory-service reports it.
    pub async fn stock(&self, sku: &str) -> Value {
        let path = format!("/api/stock/{sku}");
        self.signed("gateway", reqwest::Method::GET, "inventory-service", &path)
            .send()
            .await
            .expect("stock")
            .json()
            .await
            .expect("stock JSON")
    }

    /// Polls `check` (every 20 ms, up to `timeout`) until it returns `Some`.
    pub async fn eventually<T, F: Future<Output = Option<T>>>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
