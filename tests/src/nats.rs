//! [`NatsServer`]: a real `nats-server -js` (the version compose runs, built by
//! `tools/backends/build.sh`) on a free port with a temporary store, which tests can stop, wipe
//! and start again (same port); [`NatsCluster`]: several of them routed into one JetStream
//! cluster on loopback, whose nodes tests can kill and bring back.

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

/// A JetStream cluster of `nats-server` processes on loopback: each with its own store, client
/// and monitoring ports, routes to all the others (the cluster `shop`, as in deploy/k8s).
pub struct NatsCluster {
    nodes: Vec<(Process, u16)>,
}

impl NatsCluster {
    /// Starts `size` routed nodes, `nats-0`…, under `dir`, and waits until each is healthy
    /// (JetStream up, which needs the cluster's quorum).
    pub async fn start(dir: &Path, size: usize) -> Self {
        let binary = stack::backends::nats_server().unwrap_or_else(|e| panic!("{e}"));
        let routes: Vec<u16> = (0..size).map(|_| stack::unused_port()).collect();
        let route_urls = routes
            .iter()
            .map(|port| format!("nats://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            let (port, monitor) = (stack::unused_port(), stack::unused_port());
            let name = format!("nats-{index}");
            let mut args = stack::nats_args(port, &dir.join(&name));
            args.extend(
                [
                    "-n",
                    &name,
                    "-m",
                    &monitor.to_string(),
                    "--cluster_name",
                    "shop",
                    "--cluster",
                    &format!("nats://127.0.0.1:{route}"),
                    "--routes",
                    &route_urls,
                ]
                .map(String::from),
            );
            let mut process = Process::new(&name, &binary, dir.join(format!("{name}.log")))
                .args(args)
                .health(format!("http://127.0.0.1:{monitor}/healthz"));
            process.spawn().unwrap_or_else(|e| panic!("{e}"));
            nodes.push((process, port));
        }
        for (process, _) in &mut nodes {
            process
                .wait_healthy(Duration::from_secs(60))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        NatsCluster { nodes }
    }

    /// Every node's URL, comma-separated: the form `NATS_URL` takes for a cluster.
    pub fn urls(&self) -> String {
        (0..self.nodes.len())
            .map(|index| self.url(index))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `nats://127.0.0.1:PORT` of node `index`.
    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].1)
    }

    /// Kills node `index` with SIGKILL, as a lost machine.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].0.kill();
    }

    /// Starts node `index` again with its store, and waits until it is healthy.
    pub async fn resume(&mut self, index: usize) {
        resume(&mut self.nodes[index].0).await;
    }
}
