//! [`NatsServer`]: a real `nats-server -js` (the version compose runs, built by
//! `tools/backends/build.sh`) on a free port with a temporary store, which tests can stop, wipe
//! and start again (same port).

use crate::process::{Process, resume, start_backend};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

/// A JetStream-enabled NATS server owned by a test.
pub struct NatsServer {
    process: Process,
    port: u16,
    store: PathBuf,
}

impl NatsServer {
    /// Starts `nats-server -js` on a free port with its store and log under `dir`, and waits
    /// until its monitoring endpoint says it is healthy.
    pub async fn start(dir: &Path) -> Self {
        let (port, monitor) = (stack::unused_port(), stack::unused_port());
        let store = dir.join("jetstream");
        let mut args = stack::nats_args(port, &store);
        args.extend(["-m".to_owned(), monitor.to_string()]);
        let health = format!("http://127.0.0.1:{monitor}/healthz");
        NatsServer {
            process: start_backend("nats-server", args, health, dir).await,
            port,
            store,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s); its store is kept.
    pub async fn stop(&mut self) {
        self.process.stop(Duration::from_secs(5)).await;
    }

    /// Deletes the server's store (stop it first): its streams and consumers are gone, as when a
    /// broker comes back on a new node or without its volume.
    pub fn wipe(&mut self) {
        assert!(
            !self.process.is_running(),
            "stop nats-server before wiping its store"
        );
        std::fs::remove_dir_all(&self.store)
            .unwrap_or_else(|e| panic!("wiping {}: {e}", self.store.display()));
    }

    /// Starts the server again on the same port with the same store.
    pub async fn resume(&mut self) {
        resume(&mut self.process).await;
    }

    /// A client connected to this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connecting to nats-server")
    }
}
