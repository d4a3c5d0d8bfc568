//! The in-memory span store: append, query, and wait until expected spans have arrived.

use crate::SpanRecord;
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};
use tokio::sync::Notify;

/// Every span received so far, in arrival order.
#[derive(Debug, Default)]
pub struct SpanStore {
    spans: Mutex<Vec<SpanRecord>>,
    arrived: Notify,
}

impl SpanStore {
    /// Appends `spans` and wakes every waiter.
    pub fn insert(&self, spans: Vec<SpanRecord>) {
        self.spans
            .lock()
            .expect("span store poisoned")
            .extend(spans);
        self.arrived.notify_waiters();
    }

    /// A copy of every span received.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.spans.lock().expect("span store poisoned").clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<SpanRecord> {
        self.filter(|span| span.trace_id == trace_id)
    }

    /// The spans for which `keep` holds.
    pub fn filter(&self, keep: impl Fn(&SpanRecord) -> bool) -> Vec<SpanRecord> {
        let spans = self.spans.lock().expect("span store poisoned");
        spans.iter().filter(|span| keep(span)).cloned().collect()
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
            if done(&self.spans.lock().expect("span store poisoned")) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, arrived).await.is_err() {
                return done(&self.spans.lock().expect("span store poisoned"));
            }
        }
    }
}
