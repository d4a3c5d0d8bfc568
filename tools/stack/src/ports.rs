//! Ports for processes that are started later: picked where nothing else will take them in the
//! meantime.

use std::{
    net::TcpListener,
    sync::atomic::{AtomicU16, Ordering},
};

/// Ports handed out come from here, below Linux's ephemeral range (32768–60999): the kernel
/// gives those to `bind(0)` and to every outgoing connection, so a port found free there can be
/// taken by anyone before the process it is meant for binds it.
const FIRST: u16 = 20_000;
const COUNT: u16 = 12_000;

/// A loopback port nothing listens on now, never the same twice in this process (tests start
/// stacks in parallel), and outside the range the kernel hands out on its own.
pub fn unused_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each process starts somewhere else: the pid scattered over the range by Fibonacci hashing
    // (the product's high bits, scaled to the range), so processes started together — whose
    // pids are neighbours — start thousands of ports apart and do not walk the same ones.
    let scattered = u64::from(std::process::id().wrapping_mul(0x9E37_79B9));
    let start = ((scattered * u64::from(COUNT)) >> 32) as u16;
    for _ in 0..COUNT {
        let step = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT;
        let port = FIRST + (start + step) % COUNT;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| unused_port()).collect();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports.iter().all(|p| (FIRST..FIRST + COUNT).contains(p)));
        assert!(TcpListener::bind(("127.0.0.1", ports[0])).is_ok());
    }
}
