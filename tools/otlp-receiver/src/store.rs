//! The in-memory span store: spans grouped by trace, bounded by a span count (the oldest traces
//! are evicted first), with queries and a way to wait until expected spans have arrived.

use crate::SpanRecord;
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};
use tokio::sync::Notify;

/// The default bound: `--max-spans` of the local stack.
pub const DEFAULT_MAX_SPANS: usize = 200_000;

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<String, Vec<SpanRecord>>,
    /// Trace ids by first arrival, oldest first: the eviction order.
    order: VecDeque<String>,
    spans: usize,
}

/// Every span received, grouped by trace, at most `max_spans` of them.
#[derive(Debug)]
pub struct SpanStore {
    inner: Mutex<Inner>,
    max_spans: usize,
    arrived: Notify,
}

impl Default for SpanStore {
    fn default() -> Self {
        Self::with_max_spans(DEFAULT_MAX_SPANS)
    }
}

impl SpanStore {
    /// A store that keeps at most `max_spans` spans, evicting whole traces, oldest first.
    pub fn with_max_spans(max_spans: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_spans: max_spans.max(1),
            arrived: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("span store poisoned")
    }

    /// Adds `spans`, evicts the oldest traces beyond the bound, and wakes every waiter.
    pub fn insert(&self, spans: Vec<SpanRecord>) {
        let mut inner = self.lock();
        for span in spans {
            let trace_id = span.trace_id.clone();
            let trace = inner.traces.entry(trace_id.clone()).or_default();
            let first = trace.is_empty();
            trace.push(span);
            if first {
                inner.order.push_back(trace_id);
            }
            inner.spans += 1;
        }
        // Never evict the newest trace: a single huge trace is kept whole.
        while inner.spans > self.max_spans && inner.order.len() > 1 {
            let oldest = inner.order.pop_front().expect("non-empty");
            let evicted = inner.traces.remove(&oldest).map_or(0, |t| t.len());
            inner.spans -= evicted;
        }
        drop(inner);
        self.arrived.notify_waiters();
    }

    /// How many spans are stored.
    pub fn len(&self) -> usize {
        self.lock().spans
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every stored span, oldest trace first.
    pub fn spans(&self) -> Vec<SpanRecord> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .flat_map(|id| inner.traces[id].iter().cloned())
            .collect()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<SpanRecord> {
        self.lock()
            .traces
            .get(trace_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Runs `f` over every trace, newest first, under the store's lock: queries read in place
    /// and copy only what they return (the store may hold hundreds of thousands of spans).
    pub fn with_traces<R>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &[SpanRecord]>) -> R,
    ) -> R {
        let inner = self.lock();
        let mut traces = inner
            .order
            .iter()
            .rev()
            .map(|id| inner.traces[id].as_slice());
        f(&mut traces)
    }

    /// The spans for which `keep` holds.
    pub fn filter(&self, keep: impl Fn(&SpanRecord) -> bool) -> Vec<SpanRecord> {
        let inner = self.lock();
        inner
            .traces
            .values()
            .flatten()
            .filter(|span| keep(span))
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the spans received so far, or `timeout` passes; returns
    /// whether it held. Exporters batch, so spans arrive some time after the work is finished.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[SpanRecord]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before checking, so an insert in between is not missed.
            let arrived = self.arrived.notified();
            if done(&self.spans()) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                return done(&self.spans());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str) -> SpanRecord {
        SpanRecord::for_tests(trace, id)
    }

    #[test]
    fn the_oldest_traces_are_evicted_first_and_whole() {
        let store = SpanStore::with_max_spans(4);
        store.insert(vec![span("a", "1"), span("a", "2")]);
        store.insert(vec![span("b", "3"), span("b", "4")]);
        assert_eq!(store.len(), 4);
        store.insert(vec![span("c", "5")]);
        assert!(store.trace("a").is_empty(), "trace a is the oldest");
        assert_eq!(store.trace("b").len(), 2);
        assert_eq!(store.len(), 3);
        // A late span of a known trace does not make it newer.
        store.insert(vec![span("b", "6"), span("d", "7")]);
        assert!(
            store.trace("b").is_empty()
                && store.trace("c").len() == 1
                && store.trace("d").len() == 1
        );
        let newest_first: Vec<String> =
            store.with_traces(|traces| traces.map(|t| t[0].trace_id.clone()).collect());
        assert_eq!(newest_first, ["d", "c"]);
    }

    #[test]
    fn a_single_trace_larger_than_the_bound_is_kept() {
        let store = SpanStore::with_max_spans(2);
        store.insert((0..5).map(|i| span("big", &i.to_string())).collect());
        assert_eq!(store.trace("big").len(), 5);
    }
}
