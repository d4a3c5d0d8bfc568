//! [`Process`]: a backend program a test owns (`otelcol`, `jaeger`, `nats-server`, built by
//! `tools/backends/build.sh`), its output appended to a log, started only once its health
//! endpoint answers, stopped gracefully or killed, and started again with the same arguments.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// One backend process: its command line, its log, and how to tell it is up.
pub(crate) struct Process {
    name: String,
    binary: PathBuf,
    args: Vec<String>,
    health_url: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// Starts the built backend `name` with `args`, its log under `dir`, and waits until
    /// `GET health_url` answers 200.
    pub(crate) async fn start(
        name: &str,
        args: Vec<String>,
        health_url: String,
        dir: &Path,
    ) -> Self {
        let binary = stack::backends::binary(name).unwrap_or_else(|e| panic!("{e}"));
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
    pub(crate) async fn resume(&mut self) {
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

    /// Stops it with SIGTERM (SIGKILL after `grace`), as `docker stop` does.
    pub(crate) async fn stop(&mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            crate::stack::terminate(child.id());
            crate::stack::wait_or_kill(&mut child, grace).await;
        }
    }

    /// Kills it (SIGKILL): what it held in memory is lost.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it is running.
    pub(crate) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Its captured output.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
