//! Child processes run like `docker compose` runs containers: name-prefixed, coloured log lines;
//! a crashed child is reported with its last lines and restarted with backoff; on shutdown each
//! gets SIGTERM (so services flush their spans) and, after a grace period, SIGKILL.

use std::{
    collections::VecDeque,
    io::IsTerminal,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    sync::watch,
    task::JoinHandle,
};

const TAIL: usize = 20;
const GRACE: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long before crashing starts again from the shortest backoff.
const STABLE: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The log prefix.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment on top of ours.
    pub env: Vec<(String, String)>,
    /// Its working directory.
    pub dir: PathBuf,
}

/// Runs processes until told to stop.
pub struct Supervisor {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    colour: bool,
    width: usize,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// A supervisor with nothing running; colours when stdout is a terminal and `NO_COLOR` is unset.
    pub fn new() -> Self {
        Self {
            shutdown: watch::channel(false).0,
            tasks: Vec::new(),
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            width: 17,
        }
    }

    /// Starts `spec` and keeps it running (restarting after a crash) until [`Supervisor::stop`].
    pub fn spawn(&mut self, spec: ProcessSpec) {
        let prefix = self.prefix(&spec.name, self.tasks.len());
        let shutdown = self.shutdown.subscribe();
        self.tasks
            .push(tokio::spawn(supervise(spec, prefix, shutdown)));
    }

    fn prefix(&self, name: &str, index: usize) -> String {
        const COLOURS: [u8; 6] = [36, 33, 32, 35, 34, 31];
        let label = format!("{name:>width$} |", width = self.width);
        if self.colour {
            format!("\x1b[{}m{label}\x1b[0m", COLOURS[index % COLOURS.len()])
        } else {
            label
        }
    }

    /// Stops every child (SIGTERM, then SIGKILL after the grace period) and waits for them.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn supervise(spec: ProcessSpec, prefix: String, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL)));
        let mut child = match start(&spec, &prefix, &tail) {
            Ok(child) => child,
            Err(error) => {
                println!(
                    "{prefix} could not start {}: {error}",
                    spec.program.display()
                );
                return;
            }
        };
        println!("{prefix} started (pid {})", child.id().unwrap_or_default());
        tokio::select! {
            status = child.wait() => {
                if *shutdown.borrow() {
                    return;
                }
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                println!("{prefix} exited unexpectedly ({status}); its last lines:");
                for line in tail.lock().expect("tail").iter() {
                    println!("{prefix}   {line}");
                }
                if started.elapsed() > STABLE {
                    backoff = Duration::from_secs(1);
                }
                println!("{prefix} restarting in {} s", backoff.as_secs());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            _ = shutdown.changed() => {
                terminate(&mut child, &prefix).await;
                return;
            }
        }
    }
}

fn start(
    spec: &ProcessSpec,
    prefix: &str,
    tail: &Arc<Mutex<VecDeque<String>>>,
) -> std::io::Result<Child> {
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Ctrl-C in a terminal reaches the whole process group; the children get SIGTERM from
        // us instead, in order, so keep them out of the terminal's group.
        .process_group(0)
        // A stack that returns early (a port taken, a backend that never got healthy) drops its
        // supervisors: their children go with them instead of holding ports.
        .kill_on_drop(true)
        .spawn()?;
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(relay(stdout, prefix.to_owned(), tail.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(relay(stderr, prefix.to_owned(), tail.clone()));
    }
    Ok(child)
}

async fn relay(output: impl AsyncRead + Unpin, prefix: String, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = readable(&line);
        println!("{prefix} {line}");
        let mut tail = tail.lock().expect("tail");
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// The services log JSON; on a terminal `LEVEL message key=value ...` reads better. Anything
/// that is not a JSON object is shown as it is.
fn readable(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        return line.to_owned();
    };
    let mut take = |key: &str| {
        fields
            .remove(key)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    };
    let level = take("level").unwrap_or_default();
    let message = take("message").unwrap_or_default();
    take("timestamp");
    take("target");
    let rest: Vec<String> = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            )
        })
        .collect();
    format!("{level:<5} {message} {}", rest.join(" "))
        .trim_end()
        .to_owned()
}

async fn terminate(child: &mut Child, prefix: &str) {
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(Ok(status)) => println!("{prefix} stopped ({status})"),
        _ => {
            println!(
                "{prefix} did not stop within {} s, killing it",
                GRACE.as_secs()
            );
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn json_log_lines_read_as_level_message_fields() {
        let line = r#"{"level":"INFO","target":"x","timestamp":"t","message":"listening","address":"127.0.0.1:8080"}"#;
        assert_eq!(readable(line), "INFO  listening address=127.0.0.1:8080");
        assert_eq!(readable("plain text"), "plain text");
    }
}
