//! One side of the comparison: the six services (and a `nats-server`) as processes on free
//! ports, exporting to an OTLP receiver of their own, with their CPU time and memory read from
//! `/proc`.

use otlp_receiver::Receiver;
use stack::process::Process;
use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

/// What one side's services exported.
#[derive(Debug, Clone)]
pub(crate) struct Exported {
    pub(crate) spans: usize,
    pub(crate) traces: usize,
    pub(crate) complete: usize,
    /// The gateway's SERVER spans of the load's kinds of request: with every trace sampled, one
    /// per request the load tool counted, or its figures are not from real requests.
    pub(crate) gateway_requests: usize,
    /// Spans the services' batch processors dropped because their queue was full, as each
    /// logs when it shuts down (`BatchSpanProcessor.SpansDropped`).
    pub(crate) dropped: u64,
    /// The trace ids of the traces complete by tracecheck's rules.
    pub(crate) complete_ids: std::collections::HashSet<String>,
    /// With a restart: the traces in which the restarted service was serving (a SERVER span
    /// open) when it was sent SIGTERM.
    pub(crate) served_at_signal: std::collections::HashSet<String>,
}

/// The services' resident memory, in KiB.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    /// All six now.
    pub(crate) rss: u64,
    /// All six at their peaks.
    pub(crate) peak: u64,
    /// The largest one service's peak.
    pub(crate) largest_peak: u64,
    /// Each service's peak.
    pub(crate) peaks: Vec<(&'static str, u64)>,
}

/// A service sent SIGTERM mid-run and started again: when each step happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Restart {
    pub(crate) signalled: Instant,
    /// The same moment on the clock span timestamps use.
    pub(crate) signalled_unix_nano: u64,
    /// Whether it exited by itself within the grace period (drained and flushed) rather than
    /// being killed.
    pub(crate) exited_gracefully: bool,
    pub(crate) exited: Instant,
    /// Healthy again.
    pub(crate) back: Instant,
}

/// A running stack.
pub(crate) struct Side {
    pub(crate) name: &'static str,
    pub(crate) gateway: String,
    /// `None` while it is away ([`Side::receiver_outage`]).
    receiver: tokio::sync::Mutex<Option<Receiver>>,
    receiver_addr: std::net::SocketAddr,
    store: std::sync::Arc<otlp_receiver::SpanStore>,
    /// Locked only while one is restarted ([`Side::restart`]).
    services: Vec<(&'static str, tokio::sync::Mutex<Process>)>,
    nats: Option<Process>,
    nats_url: String,
    _dir: tempfile::TempDir,
}

impl Side {
    /// Starts the six services from `binaries` with `telemetry` settings on top of the wiring.
    pub(crate) async fn start(
        name: &'static str,
        binaries: &HashMap<String, PathBuf>,
        telemetry: &[(String, String)],
    ) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // Bounded far above what a run exports, so no trace is evicted before it is counted.
        let store = std::sync::Arc::new(otlp_receiver::SpanStore::with_max_spans(50_000_000));
        let receiver = Receiver::start_with(([127, 0, 0, 1], 0).into(), store.clone())
            .await
            .map_err(|e| format!("starting the OTLP receiver: {e}"))?;
        let nats_port = stack::unused_port();
        let nats_url = format!("nats://127.0.0.1:{nats_port}");
        let nats = match stack::find_on_path("nats-server") {
            Some(program) => {
                let mut nats = Process::new("nats-server", &program, dir.path().join("nats.log"))
                    .args(stack::nats_args(nats_port, &dir.path().join("nats")));
                nats.spawn()?;
                Some(nats)
            }
            None => {
                // stderr: stdout may be the --json report.
                eprintln!("WARNING: {}", stack::INSTALL_NATS);
                None
            }
        };
        let ports: HashMap<&str, u16> = stack::topology::names()
            .map(|service| (service, stack::unused_port()))
            .collect();
        let identities = stack::issue_identities(dir.path())?;
        let mut services = Vec::new();
        for service in stack::topology::names() {
            let mut env = stack::service_env(
                service,
                |s| ports[s],
                dir.path(),
                &identities,
                &receiver.endpoint(),
                &nats_url,
            );
            // Quiet logs: writing them would be measured too, on both sides alike.
            env.push(("RUST_LOG".into(), "warn".into()));
            // Stock that does not sell out, however long the run.
            env.push(("SEED_STOCK".into(), "100000000".into()));
            env.extend(telemetry.iter().map(|(k, v)| (k.to_string(), v.clone())));
            let program = binaries
                .get(service)
                .ok_or_else(|| format!("no {service} binary"))?;
            let log = dir.path().join(format!("{service}.log"));
            let mut process = Process::new(service, program, log)
                .envs(env)
                .health(format!("http://127.0.0.1:{}/healthz", ports[service]));
            process.spawn()?;
            services.push((service, tokio::sync::Mutex::new(process)));
        }
        for (_, process) in &mut services {
            process
                .get_mut()
                .wait_healthy(Duration::from_secs(60))
                .await
                .map_err(|e| format!("{name} side: {e}"))?;
        }
        Ok(Side {
            name,
            gateway: format!("http://127.0.0.1:{}", ports["gateway"]),
            receiver_addr: receiver.addr(),
            receiver: tokio::sync::Mutex::new(Some(receiver)),
            store,
            services,
            nats,
            nats_url,
            _dir: dir,
        })
    }

    /// The running services' process ids, by name (one being restarted is left out).
    fn pids(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        self.services
            .iter()
            .filter_map(|(name, process)| Some((*name, process.try_lock().ok()?.pid()?)))
    }

    /// Sends `service` SIGTERM — it stops taking connections, finishes the requests in flight
    /// and flushes its spans — waits for it to exit, and starts it again on the same port with
    /// the same settings, as an orchestrator rolling it.
    pub(crate) async fn restart(&self, service: &str) -> Result<Restart, String> {
        let (_, process) = self
            .services
            .iter()
            .find(|(name, _)| *name == service)
            .ok_or_else(|| format!("no service {service:?} to restart"))?;
        let mut process = process.lock().await;
        let signalled = Instant::now();
        let signalled_unix_nano = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let exited_gracefully = process.stop(Duration::from_secs(30)).await;
        let exited = Instant::now();
        process.start(Duration::from_secs(60)).await?;
        Ok(Restart {
            signalled,
            signalled_unix_nano,
            exited_gracefully,
            exited,
            back: Instant::now(),
        })
    }

    /// CPU time the six services have used so far (user + system), where `/proc` tells.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let ticks_per_second = clock_ticks();
        self.pids()
            .map(|(_, pid)| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // The fields after the command name, which is in parentheses and may hold spaces.
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks: u64 =
                    fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
                Some(Duration::from_secs_f64(ticks as f64 / ticks_per_second))
            })
            .sum()
    }

    /// Takes the span receiver away for `outage` — port closed, connections dropped, as a
    /// collector being restarted — and brings it back on the same address, still counting.
    pub(crate) async fn receiver_outage(&self, outage: Duration) -> Result<(), String> {
        let mut receiver = self.receiver.lock().await;
        if let Some(running) = receiver.take() {
            running.stop().await;
        }
        tokio::time::sleep(outage).await;
        let back = Receiver::start_with(self.receiver_addr, self.store.clone())
            .await
            .map_err(|e| format!("restarting the OTLP receiver: {e}"))?;
        *receiver = Some(back);
        Ok(())
    }

    /// The six services' resident memory, where `/proc` tells.
    pub(crate) fn memory(&self) -> Option<Memory> {
        self.pids()
            .map(|(name, pid)| {
                Some((
                    name,
                    stack::status_kib(pid, "VmRSS")?,
                    stack::status_kib(pid, "VmHWM")?,
                ))
            })
            .try_fold(
                Memory {
                    rss: 0,
                    peak: 0,
                    largest_peak: 0,
                    peaks: Vec::new(),
                },
                |mut sum, one| {
                    let (name, rss, peak) = one?;
                    sum.rss += rss;
                    sum.peak += peak;
                    sum.largest_peak = sum.largest_peak.max(peak);
                    sum.peaks.push((name, peak));
                    Some(sum)
                },
            )
    }

    /// Stops the services with SIGTERM (they flush their spans) and returns what their OTLP
    /// receiver got: spans, traces, and the traces complete by tracecheck's rules (one root, no
    /// orphan, every call and message joined).
    pub(crate) async fn stop(mut self, restart: Option<(&str, Restart)>) -> Exported {
        // The last orders' events first: a side stopped mid-hop would count cut-off traces.
        if self.nats.is_some() {
            let durables = ["inventory", "order"];
            if let Err(error) =
                stack::events::consumers_idle(&self.nats_url, &durables, Duration::from_secs(30))
                    .await
            {
                eprintln!("WARNING: {} side: {error}", self.name);
            }
        }
        for (_, process) in &mut self.services {
            process.get_mut().terminate();
        }
        let mut dropped = 0;
        for (_, process) in &mut self.services {
            let process = process.get_mut();
            process.stop(Duration::from_secs(15)).await;
            dropped += dropped_spans(&process.log());
        }
        if let Some(mut nats) = self.nats.take() {
            nats.kill();
        }
        let store = &self.store;
        let mut complete_ids = std::collections::HashSet::new();
        let mut served_at_signal = std::collections::HashSet::new();
        let (traces, complete, gateway_requests) = store.with_traces(|traces| {
            traces.fold((0, 0, 0), |(all, complete, gateway), trace| {
                let problems = otlp_receiver::checked_trace(trace).problems(&[]);
                if let (true, Some(span)) = (problems.is_empty(), trace.first()) {
                    complete_ids.insert(span.trace_id.clone());
                }
                if let Some((service, restart)) = restart {
                    let at = restart.signalled_unix_nano;
                    if let Some(span) = trace.iter().find(|span| {
                        span.service_name == service
                            && span.kind == otlp_receiver::SpanKind::Server
                            && span.start_time_unix_nano < at
                            && span.end_time_unix_nano >= at
                    }) {
                        served_at_signal.insert(span.trace_id.clone());
                    }
                }
                // Distinct span ids: an export retried after a timeout may arrive twice.
                let requests = trace
                    .iter()
                    .filter(|span| {
                        span.service_name == "gateway"
                            && span.kind == otlp_receiver::SpanKind::Server
                            && crate::workload::KINDS.contains(&span.name.as_str())
                    })
                    .map(|span| span.span_id.as_str())
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                (
                    all + 1,
                    complete + usize::from(problems.is_empty()),
                    gateway + requests,
                )
            })
        });
        Exported {
            spans: store.len(),
            traces,
            complete,
            gateway_requests,
            dropped,
            complete_ids,
            served_at_signal,
        }
    }
}

/// The spans a service's batch processor says it dropped, from the JSON log lines the SDK
/// writes at shutdown (`{"name":"BatchSpanProcessor.SpansDropped","dropped_span_count":N,…}`),
/// summed over every start of the process.
fn dropped_spans(log: &str) -> u64 {
    log.lines()
        .filter(|line| line.contains("BatchSpanProcessor.SpansDropped"))
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["name"] == "BatchSpanProcessor.SpansDropped")
        .filter_map(|line| line["dropped_span_count"].as_u64())
        .sum()
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, asked once; 100 on
/// Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
