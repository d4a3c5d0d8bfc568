//! Helpers for the end-to-end tests: build and start the six real service binaries on free ports,
//! pointed at an in-process OTLP receiver (or the real Collector and Jaeger) and a real
//! `nats-server -js`, and query the traces they export.

pub mod async_hop;
mod backends;
mod ledger;
mod nats;
mod process;
mod proxy;
mod test_stack;
mod trace;

pub use backends::{Backend, Collector, Jaeger, Prometheus};
pub use ledger::Ledger;
pub use nats::{NatsCluster, NatsServer};
pub use process::start_backend;
pub use proxy::DelayingProxy;
pub use stack::dotenv;
pub use test_stack::{Reply, SERVICES, TestStack, binary};
pub use trace::Trace;

/// The payment processor's test cards (payment-service decides by card number, as Stripe's test
/// mode does).
pub mod cards {
    /// Approved.
    pub const APPROVED: &str = "4242424242424242";
    /// Declined: `card_declined`.
    pub const DECLINED: &str = "4000000000000002";
    /// Declined: `insufficient_funds`.
    pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";
    /// The processor fails: `processing_error`, a 500 from payment-service.
    pub const PROCESSING_ERROR: &str = "4000000000000119";
    /// Approved after `PAYMENT_SLOW_MS`.
    pub const SLOW: &str = "4000000000000036";
}

/// The workspace root: the repository's own files (compose, the collector configs, deploy/k8s).
pub fn workspace() -> &'static std::path::Path {
    stack::binaries::workspace_root()
}

/// `PATH` with the backends built by `tools/backends/build.sh` first, for tools the tests run as
/// processes that look `nats-server` up on `PATH` (the local stack, the load tool), as a user
/// who installed it has it.
pub fn path_with_backends() -> std::ffi::OsString {
    let backends = stack::backends::dir().unwrap_or_else(|e| panic!("{e}"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(
        std::iter::once(backends.to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .expect("PATH entries without separators")
}
