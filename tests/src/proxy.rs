//! [`DelayingProxy`]: a TCP proxy in front of a service that holds back the answers to chosen
//! requests — a reply that arrives after the caller's timeout, as from a slow network or a
//! stalled load balancer, while the service itself has long finished — and can cut off others, as
//! a network partition would, or close a connection once the service has acted on its request
//! but before its answer is through, as a callee shutting down or a dropped link does.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::Notify;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// Forwards connections to an upstream set later, delaying the answer to every request whose
/// first bytes are `prefix` (e.g. `POST /api/payments `) by `delay`.
pub struct DelayingProxy {
    port: u16,
    upstream: Arc<Mutex<Option<String>>>,
    refused: Arc<Mutex<Option<&'static [u8]>>>,
    swallowed: Arc<Mutex<Option<&'static [u8]>>>,
    task: JoinHandle<()>,
}

impl DelayingProxy {
    /// Listens on a free loopback port; connections wait for [`DelayingProxy::set_upstream`].
    pub async fn start(prefix: &'static [u8], delay: Duration) -> Self {
        // Bound here and held: port 0 lets the kernel pick, with no window for anyone else.
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the proxy");
        let port = listener.local_addr().unwrap().port();
        let upstream = Arc::new(Mutex::new(None::<String>));
        let refused = Arc::new(Mutex::new(None));
        let swallowed = Arc::new(Mutex::new(None));
        let (target, cut, swallow) = (upstream.clone(), refused.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(address) = target.lock().unwrap().clone() else {
                    continue; // not wired yet: the connection is dropped
                };
                let rules = Rules {
                    delayed: prefix,
                    delay,
                    refused: cut.clone(),
                    swallowed: swallow.clone(),
                };
                tokio::spawn(relay(client, address, rules));
            }
        });
        DelayingProxy {
            port,
            upstream,
            refused,
            swallowed,
            task,
        }
    }

    /// From now on, a request whose first bytes are `prefix` is not forwarded: its connection is
    /// closed without an answer.
    pub fn refuse(&self, prefix: &'static [u8]) {
        *self.refused.lock().unwrap() = Some(prefix);
    }

    /// The next request whose first bytes are `prefix` is forwarded and acted on, but its answer
    /// never comes through: the caller's connection is closed once the service has answered.
    pub fn swallow_next_answer(&self, prefix: &'static [u8]) {
        *self.swallowed.lock().unwrap() = Some(prefix);
    }

    /// The URL to give the caller instead of the service's.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where to forward to (`http://127.0.0.1:PORT` or `127.0.0.1:PORT`).
    pub fn set_upstream(&self, url: &str) {
        *self.upstream.lock().unwrap() = Some(url.trim_start_matches("http://").to_owned());
    }
}

impl Drop for DelayingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one connection does with the requests on it.
struct Rules {
    delayed: &'static [u8],
    delay: Duration,
    refused: Arc<Mutex<Option<&'static [u8]>>>,
    swallowed: Arc<Mutex<Option<&'static [u8]>>>,
}

async fn relay(client: TcpStream, upstream: String, rules: Rules) {
    let Rules {
        delayed: prefix,
        delay,
        refused,
        swallowed,
    } = rules;
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    // Notified when a refused request comes: both directions stop, the connection closes.
    let cut = Arc::new(Notify::new());
    let cutter = cut.clone();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set when a request with the prefix goes up, cleared when its answer has been held.
    let hold = Arc::new(AtomicBool::new(false));
    let marked = hold.clone();
    // Set when the request whose answer is to be swallowed goes up.
    let swallow = Arc::new(AtomicBool::new(false));
    let swallowing = swallow.clone();
    let up = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(n) = client_read.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            let refuse = *refused.lock().unwrap();
            if refuse.is_some_and(|refused| buffer[..n].starts_with(refused)) {
                cutter.notify_one();
                break;
            }
            if buffer[..n].starts_with(prefix) {
                marked.store(true, Ordering::SeqCst);
            }
            {
                let mut next = swallowed.lock().unwrap();
                if next.is_some_and(|swallowed| buffer[..n].starts_with(swallowed)) {
                    *next = None;
                    swallowing.store(true, Ordering::SeqCst);
                }
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        let copy = async {
            while let Ok(n) = server_read.read(&mut buffer).await {
                if n == 0 {
                    break;
                }
                if swallow.load(Ordering::SeqCst) {
                    // Acted on and answered: the caller gets a closed connection instead.
                    let _ = client_write.shutdown().await;
                    break;
                }
                if hold.swap(false, Ordering::SeqCst) {
                    tokio::time::sleep(delay).await;
                }
                if client_write.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        };
        tokio::select! {
            () = copy => {}
            () = cut.notified() => {}
        }
    };
    tokio::join!(up, down);
}
