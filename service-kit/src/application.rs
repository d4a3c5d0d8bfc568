//! A service as `main` runs it and a test can start it in-process: bound in `build` (port 0
//! works, and [`Application::port`] tells which one it got), its background tasks started, and
//! served by [`Application::run_until_stopped`] until the shutdown future resolves.

use crate::serve::{ServerArgs, serve_until};
use axum::Router;
use std::{net::SocketAddr, time::Duration};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

/// How long a task started with [`Application::spawn_graceful`] may take, once the server has
/// drained, to finish what it holds (an event being handled takes milliseconds).
const TASK_GRACE: Duration = Duration::from_secs(2);

/// Resolves once the application is stopping: what a background task that can stop cleanly
/// (between two events, say) waits on beside its work.
#[derive(Debug, Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// Waits until the application is stopping.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// A bound service with its background tasks (an outbox relay, an event consumer, ...).
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ServerArgs,
    tasks: Vec<JoinHandle<()>>,
    graceful: Vec<JoinHandle<()>>,
    stopping: watch::Sender<bool>,
}

impl Application {
    /// Binds `address` for `router`, served within `limits`.
    pub async fn bind(
        address: SocketAddr,
        router: Router,
        limits: ServerArgs,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(address).await?,
            router,
            limits,
            tasks: Vec::new(),
            graceful: Vec::new(),
            stopping: watch::Sender::new(false),
        })
    }

    /// Starts `task` now; it is stopped when the application is.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Starts the task `start` makes with a [`Stopping`]: when the application stops, the task
    /// is told, and given a moment to finish what it holds before the process goes on to flush
    /// its spans — an event consumer ends between two events, not in the middle of one.
    pub fn spawn_graceful<F, Fut>(&mut self, start: F)
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stopping = Stopping(self.stopping.subscribe());
        self.graceful.push(tokio::spawn(start(stopping)));
    }

    /// The port the listener got.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the
    /// background tasks: those started with [`Self::spawn_graceful`] are told and waited for
    /// (up to two seconds), the others ended at once.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let served = serve_until(self.listener, self.router, self.limits, shutdown).await;
        for task in self.tasks {
            task.abort();
        }
        self.stopping.send_replace(true);
        let aborts: Vec<_> = self.graceful.iter().map(JoinHandle::abort_handle).collect();
        let finished = futures_util::future::join_all(self.graceful);
        if tokio::time::timeout(TASK_GRACE, finished).await.is_err() {
            tracing::warn!("background work still running after the grace period: ended");
            for task in aborts {
                task.abort();
            }
        }
        served
    }
}
