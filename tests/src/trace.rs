//! [`Trace`]: one trace's spans with the structural queries the tests assert on.

use otlp_receiver::{SpanKind, SpanRecord};
use std::collections::HashSet;

/// The spans of one trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Every span received for the trace.
    pub spans: Vec<SpanRecord>,
}

impl Trace {
    /// Wraps the spans of one trace.
    pub fn new(spans: Vec<SpanRecord>) -> Self {
        Self { spans }
    }

    /// Whether any span came from `service`.
    pub fn has_service(&self, service: &str) -> bool {
        self.spans.iter().any(|s| s.service_name == service)
    }

    /// The distinct `service.name`s in the trace.
    pub fn services(&self) -> HashSet<&str> {
        self.spans.iter().map(|s| s.service_name.as_str()).collect()
    }

    /// Spans without a parent.
    pub fn roots(&self) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .collect()
    }

    /// Spans whose parent is not in the trace.
    pub fn orphans(&self) -> Vec<&SpanRecord> {
        let ids: HashSet<&str> = self.spans.iter().map(|s| s.span_id.as_str()).collect();
        self.spans
            .iter()
            .filter(|s| {
                s.parent_span_id
                    .as_deref()
                    .is_some_and(|p| !ids.contains(p))
            })
            .collect()
    }

    /// The parent of `span`.
    pub fn parent(&self, span: &SpanRecord) -> Option<&SpanRecord> {
        let parent = span.parent_span_id.as_deref()?;
        self.spans.iter().find(|s| s.span_id == parent)
    }

    /// The direct children of `span`.
    pub fn children(&self, span: &SpanRecord) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id.as_deref() == Some(span.span_id.as_str()))
            .collect()
    }

    /// The spans of `service` named `name`.
    pub fn named(&self, service: &str, name: &str) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.service_name == service && s.name == name)
            .collect()
    }

    /// The one span of `service` named `name`; panics unless there is exactly one.
    pub fn one(&self, service: &str, name: &str) -> &SpanRecord {
        match self.named(service, name).as_slice() {
            [span] => span,
            found => panic!(
                "expected one {service} span {name:?}, found {}:\n{}",
                found.len(),
                self.render()
            ),
        }
    }

    /// Outgoing HTTP calls: CLIENT spans that name the service they call.
    pub fn http_client_spans(&self) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.kind == SpanKind::Client && s.attr("peer.service").is_some())
            .collect()
    }

    /// Database calls: CLIENT spans with `db.system.name`.
    pub fn db_spans(&self, service: &str) -> Vec<&SpanRecord> {
        self.spans
            .iter()
            .filter(|s| s.service_name == service && s.attr("db.system.name").is_some())
            .collect()
    }

    /// The trace in the completeness checker's model: the one definition of a complete trace
    /// and of its printout, shared with the `tracecheck` smoke check and the real-Jaeger tests.
    pub fn checked(&self) -> tracecheck::Trace {
        otlp_receiver::checked_trace(&self.spans)
    }

    /// Everything that keeps the trace from being complete with spans of `services`
    /// ([`tracecheck::Trace::problems`]); empty when it is.
    pub fn problems(&self, services: &[&str]) -> Vec<String> {
        self.checked().problems(services)
    }

    /// The trace as an indented tree, for failure messages.
    pub fn render(&self) -> String {
        self.checked().render()
    }
}
