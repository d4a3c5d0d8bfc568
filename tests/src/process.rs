//! The backend programs a test owns (`otelcol`, `jaeger`, `nats-server`, built by
//! `tools/backends/build.sh`), run through the stack's one [`Process`] type: started, and the
//! test failed with the program's log when it does not come up.

pub(crate) use stack::process::Process;
use std::{path::Path, time::Duration};

/// How long a backend may take to answer its health check.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// Starts the built backend `name` with `args`, its log under `dir`, and waits until
/// `GET health_url` answers 2xx.
pub async fn start_backend(
    name: &str,
    args: Vec<String>,
    health_url: String,
    dir: &Path,
) -> Process {
    let binary = match name {
        "nats-server" => stack::backends::nats_server(),
        _ => stack::backends::binary(name),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let log = dir.join(format!("{name}-{}.log", stack::unused_port()));
    let mut process = Process::new(name, &binary, log)
        .args(args)
        .health(health_url);
    resume(&mut process).await;
    process
}

/// Starts `process` (again) and waits until it is healthy.
pub(crate) async fn resume(process: &mut Process) {
    process
        .start(HEALTHY_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}
