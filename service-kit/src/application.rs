//! A service as `main` runs it and a test can start it in-process: bound in `build` (port 0
//! works, and [`Application::port`] tells which one it got), its background tasks started, and
//! served by [`Application::run_until_stopped`] until the shutdown future resolves.

use crate::serve::{ServerArgs, serve_until};
use axum::Router;
use std::net::SocketAddr;
use tokio::{net::TcpListener, task::JoinHandle};

/// A bound service with its background tasks (an outbox relay, an event consumer, ...).
pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ServerArgs,
    tasks: Vec<JoinHandle<()>>,
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
        })
    }

    /// Starts `task` now; it is stopped when the application is.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// The port the listener got.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the
    /// background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let served = serve_until(self.listener, self.router, self.limits, shutdown).await;
        for task in self.tasks {
            task.abort();
        }
        served
    }
}
