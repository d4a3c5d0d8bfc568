//! Helpers for the end-to-end tests: build and start the six real service binaries on free ports,
//! pointed at an in-process OTLP receiver (or the real Collector and Jaeger) and a real
//! `nats-server -js`, and query the traces they export.

mod backends;
mod nats;
mod process;
mod proxy;
mod test_stack;
mod trace;

pub use backends::{Backend, Collector, Jaeger};
pub use nats::{NatsCluster, NatsServer};
pub use process::start_backend;
pub use proxy::DelayingProxy;
pub use stack::dotenv;
pub use test_stack::{Reply, SERVICES, TestStack, binary};
pub use trace::Trace;

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
