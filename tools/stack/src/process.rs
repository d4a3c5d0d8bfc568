//! [`Process`]: one program run as a child — a service, `nats-server`, the Collector, Jaeger —
//! with its output appended to a log file, started and then waited on until its health endpoint
//! answers, stopped gracefully (SIGTERM, then SIGKILL after a grace period) or killed, and started
//! again with the same command line. The test harness and the load tool run everything through
//! it; the interactive stack runs the same command lines ([`crate::service_env`],
//! [`crate::nats_args`]) under its compose-like [`crate::supervisor`] (prefixed output, restarts).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A child process and how to run it again.
#[derive(Debug)]
pub struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_removed: Vec<String>,
    health_url: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    /// `program`, called `name` in errors, its output appended to `log`. Not started yet.
    pub fn new(name: &str, program: &Path, log: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_removed: Vec::new(),
            health_url: None,
            log,
            child: None,
        }
    }

    /// Its arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = String>) -> Self {
        self.args.extend(args);
        self
    }

    /// Variables set on top of this process's environment.
    pub fn envs(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        for (key, value) in env {
            self.set_env(&key, &value);
        }
        self
    }

    /// Another process of the same program, arguments and environment, called `name`, its output
    /// in `log`: not started, and free to be configured apart (a second replica).
    pub fn replica(&self, name: &str, log: PathBuf) -> Self {
        let mut replica = Self::new(name, &self.program, log)
            .args(self.args.clone())
            .envs(self.env.clone());
        replica.env_removed = self.env_removed.clone();
        replica.health_url = self.health_url.clone();
        replica
    }

    /// Variables of this process's environment the child does not inherit.
    pub fn without_env(mut self, keys: &[&str]) -> Self {
        self.env_removed
            .extend(keys.iter().map(|k| (*k).to_owned()));
        self
    }

    /// The URL that answers 2xx once it is up.
    pub fn health(mut self, url: String) -> Self {
        self.health_url = Some(url);
        self
    }

    /// Sets (or replaces) one variable, for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts it without waiting.
    pub fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.program);
        for key in &self.env_removed {
            command.env_remove(key);
        }
        let child = command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting {} ({}): {e}", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts it and waits until its health URL answers, within `timeout`.
    pub async fn start(&mut self, timeout: Duration) -> Result<(), String> {
        self.spawn()?;
        self.wait_healthy(timeout).await
    }

    /// Waits until the health URL answers 2xx; fails at once if the process exits, and after
    /// `timeout`, with the end of its log.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), String> {
        let Some(url) = self.health_url.clone() else {
            return Ok(());
        };
        let child = &mut self.child;
        let exited = || child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        crate::until_healthy(&url, timeout, exited)
            .await
            .map_err(|exited| {
                format!(
                    "{} did not become healthy at {url} ({exited:?}); its log:\n{}",
                    self.name,
                    self.log()
                )
            })
    }

    /// Sends SIGTERM (a graceful stop: services drain and flush their spans) without waiting.
    pub fn terminate(&self) {
        if let Some(pid) = self.pid() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Stops it with SIGTERM, and SIGKILL if it is still running after `grace`, as `docker stop`
    /// does; true if it exited by itself (or was not running).
    pub async fn stop(&mut self, grace: Duration) -> bool {
        self.terminate();
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills it (SIGKILL): no draining, no flushing, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Its captured output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
