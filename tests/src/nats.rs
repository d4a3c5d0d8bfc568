//! [`NatsServer`]: a real `nats-server -js` (the version compose runs, built by
//! `tools/backends/build.sh`) on a free port with a temporary store, which tests can stop and
//! start again (same port, same store).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A JetStream-enabled NATS server owned by a test.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `nats-server -js` on a free port with its store and log under `dir`.
    pub async fn start(dir: &Path) -> Self {
        let binary = stack::backends::binary("nats-server").unwrap_or_else(|e| panic!("{e}"));
        let mut server = NatsServer {
            binary,
            port: stack::unused_port(),
            store: dir.join("jetstream"),
            log: dir.join("nats-server.log"),
            child: None,
        };
        server.resume().await;
        server
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 5 s); its store is kept.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stack::terminate(child.id());
            super::stack::wait_or_kill(&mut child, Duration::from_secs(5)).await;
        }
    }

    /// Deletes the server's store (stop it first): its streams and consumers are gone, as when a
    /// broker comes back on a new node or without its volume.
    pub fn wipe(&mut self) {
        assert!(
            self.child.is_none(),
            "stop nats-server before wiping its store"
        );
        let _ = std::fs::remove_dir_all(&self.store);
    }

    /// Starts the server again on the same port with the same store.
    pub async fn resume(&mut self) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("nats log file");
        let child = Command::new(&self.binary)
            .args(stack::nats_args(self.port, &self.store))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("nats log file"))
            .stderr(log)
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "nats-server did not start: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client connected to this server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connecting to nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
