//! Trace completeness checks over Jaeger's JSON trace model (`GET /api/traces/{id}`), shared by
//! the `tracecheck` CLI and the tests: which services are present, exactly one root, no orphan
//! span, every CLIENT→SERVER and PRODUCER→CONSUMER hop joined. Plus an indented tree printout,
//! and those rules as a live figure over many traces ([`quality`]).

pub mod jaeger;
pub mod quality;
pub mod watch;

use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The six services a complete order trace crosses.
pub const ORDER_SERVICES: [&str; 6] = [
    "gateway",
    "user-service",
    "auth-service",
    "order-service",
    "inventory-service",
    "payment-service",
];

/// The trace id named by an answer's `traceresponse` header (`00-<trace id>-<span id>-<flags>`),
/// if it has one.
pub fn traceresponse_trace_id(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("traceresponse")?
        .to_str()
        .ok()?
        .split('-')
        .nth(1)
        .map(str::to_owned)
}

/// Whether an answer's `traceresponse` header says its trace was sampled (the flags' low bit),
/// if it has a readable one.
pub fn traceresponse_sampled(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    let flags = headers
        .get("traceresponse")?
        .to_str()
        .ok()?
        .split('-')
        .nth(3)?;
    u8::from_str_radix(flags, 16)
        .ok()
        .map(|flags| flags & 1 == 1)
}

/// One span, as Jaeger describes it.
#[derive(Debug, Clone)]
pub struct Span {
    /// 16 hex digits.
    pub span_id: String,
    /// The CHILD_OF reference, if any.
    pub parent_id: Option<String>,
    /// The `serviceName` of the span's process.
    pub service: String,
    /// The operation (span name).
    pub operation: String,
    /// `span.kind`: server, client, producer, consumer, internal (absent when unset).
    pub kind: Option<String>,
    /// Start, in microseconds since the epoch.
    pub start_us: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// Whether the span is marked failed (`error=true` or `otel.status_code=ERROR`).
    pub error: bool,
    /// Whether the span is an outgoing HTTP call (it has `http.request.method`).
    pub http: bool,
    /// The service a CLIENT span calls (`peer.service`), when it names one.
    pub peer: Option<String>,
    /// Whether the span is a publish the stream dropped as a copy of a message it already holds
    /// (`messaging.nats.duplicate`): a redelivered event announced again, on purpose with the
    /// same message id. The first copy is the one consumed; this one has nothing to join.
    pub duplicate: bool,
}

/// What keeps a trace from being complete, by hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gap {
    /// Not exactly one root span (their number).
    Roots(usize),
    /// A span whose parent never arrived.
    Orphan {
        /// The span's service.
        service: String,
        /// Its operation.
        operation: String,
        /// The missing parent's span id.
        parent: String,
    },
    /// A CLIENT call with no SERVER span under it.
    UnjoinedCall {
        /// The caller.
        service: String,
        /// The CLIENT span's operation.
        operation: String,
        /// The callee it names (`peer.service`), if any.
        peer: Option<String>,
    },
    /// A published message with no CONSUMER span under it.
    UnjoinedMessage {
        /// The publisher.
        service: String,
        /// The PRODUCER span's operation.
        operation: String,
    },
}

impl Gap {
    /// The gap as one line of `problems()`, naming this trace's spans.
    pub fn problem(&self) -> String {
        match self {
            Self::Roots(n) => format!("{n} root spans, expected exactly one"),
            Self::Orphan {
                service,
                operation,
                parent,
            } => format!("orphan: {service} {operation} (parent {parent} missing)"),
            Self::UnjoinedCall {
                service, operation, ..
            } => format!("unjoined call: {service} {operation} has no SERVER child"),
            Self::UnjoinedMessage { service, operation } => {
                format!("unjoined message: {service} {operation} has no CONSUMER child")
            }
        }
    }

    /// The hop the gap is at, the same for every trace that has it (no ids): what a live
    /// quality figure counts traces by, e.g. `order-service CLIENT POST /api/payments → no
    /// payment-service SERVER span`.
    pub fn hop(&self) -> String {
        match self {
            Self::Roots(0) => "no root span".to_owned(),
            Self::Roots(n) => format!("{n} root spans"),
            Self::Orphan {
                service, operation, ..
            } => format!("{service} {operation} → its parent span never arrived"),
            Self::UnjoinedCall {
                service,
                operation,
                peer,
            } => format!(
                "{service} CLIENT {operation} → no {} SERVER span",
                peer.as_deref().unwrap_or("callee")
            ),
            Self::UnjoinedMessage { service, operation } => {
                format!("{service} PRODUCER {operation} → no CONSUMER span")
            }
        }
    }
}

/// The spans of one trace.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The trace id.
    pub trace_id: String,
    /// Its spans.
    pub spans: Vec<Span>,
}

impl Trace {
    /// Reads one trace object of Jaeger's JSON model (an element of the response's `data`).
    pub fn from_jaeger(trace: &Value) -> Result<Self, String> {
        let trace: jaeger::Trace = serde_json::from_value(trace.clone())
            .map_err(|e| format!("not a trace in Jaeger's model: {e}"))?;
        Self::from_model(&trace)
    }

    /// The trace from Jaeger's model.
    pub fn from_model(trace: &jaeger::Trace) -> Result<Self, String> {
        let spans = trace
            .spans
            .iter()
            .map(|span| {
                let service = trace
                    .processes
                    .get(&span.process_id)
                    .map(|p| p.service_name.clone())
                    .ok_or_else(|| format!("unknown process {}", span.process_id))?;
                Ok(Span {
                    span_id: span.span_id.clone(),
                    parent_id: span.parent_id().map(str::to_owned),
                    service,
                    operation: span.operation_name.clone(),
                    kind: span
                        .tag("span.kind")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    start_us: span.start_time,
                    duration_us: span.duration,
                    error: span.tag("error") == Some(&Value::Bool(true))
                        || span.tag("otel.status_code").and_then(Value::as_str) == Some("ERROR"),
                    http: span.tag("http.request.method").is_some(),
                    peer: span
                        .tag("peer.service")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    duplicate: span.tag("messaging.nats.duplicate") == Some(&Value::Bool(true)),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Trace {
            trace_id: trace.trace_id.clone(),
            spans,
        })
    }

    /// Reads the first trace of a `GET /api/traces/{id}` response body.
    pub fn from_response(body: &Value) -> Result<Self, String> {
        let response: jaeger::Response<Vec<jaeger::Trace>> =
            serde_json::from_value(body.clone())
                .map_err(|e| format!("not a Jaeger answer: {e}"))?;
        let first = response
            .data
            .as_ref()
            .and_then(|d| d.first())
            .ok_or("the response holds no trace")?;
        Self::from_model(first)
    }

    /// Whether `span` is a failed call that its caller sent again: a later CLIENT span of the
    /// same operation under the same parent.
    fn resent(&self, span: &Span) -> bool {
        span.error
            && self.spans.iter().any(|later| {
                later.span_id != span.span_id
                    && later.parent_id == span.parent_id
                    && later.operation == span.operation
                    && later.kind == span.kind
                    && later.start_us >= span.start_us + span.duration_us
            })
    }

    fn children<'a>(&'a self, span: &Span) -> impl Iterator<Item = &'a Span> {
        let id = span.span_id.clone();
        self.spans
            .iter()
            .filter(move |s| s.parent_id.as_deref() == Some(id.as_str()))
    }

    /// Everything that keeps the trace from being complete; empty when it is.
    pub fn problems(&self, expected_services: &[&str]) -> Vec<String> {
        let present: BTreeSet<&str> = self.spans.iter().map(|s| s.service.as_str()).collect();
        let missing = expected_services
            .iter()
            .filter(|service| !present.contains(*service))
            .map(|service| format!("no span from {service}"));
        missing
            .chain(self.gaps().iter().map(Gap::problem))
            .collect()
    }

    /// The trace's gaps by tracecheck's rules: not exactly one root, a span whose parent never
    /// arrived, a CLIENT call with no SERVER span under it, a message with no CONSUMER span.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut gaps = Vec::new();
        let ids: HashSet<&str> = self.spans.iter().map(|s| s.span_id.as_str()).collect();
        let roots = self.spans.iter().filter(|s| s.parent_id.is_none()).count();
        if roots != 1 {
            gaps.push(Gap::Roots(roots));
        }
        for span in &self.spans {
            let named = || (span.service.clone(), span.operation.clone());
            if let Some(parent) = &span.parent_id
                && !ids.contains(parent.as_str())
            {
                let (service, operation) = named();
                gaps.push(Gap::Orphan {
                    service,
                    operation,
                    parent: parent.clone(),
                });
            }
            let joined = |kind: &str| self.children(span).any(|c| c.kind.as_deref() == Some(kind));
            match span.kind.as_deref() {
                // A failed attempt that was sent again (no connection, or one closed before the
                // answer) has nothing to join; the resend after it does.
                Some("client") if span.http && !joined("server") && !self.resent(span) => {
                    let (service, operation) = named();
                    gaps.push(Gap::UnjoinedCall {
                        service,
                        operation,
                        peer: span.peer.clone(),
                    })
                }
                // A failed publish attempt has nothing to join; the retry that succeeded does.
                Some("producer") if !span.error && !span.duplicate && !joined("consumer") => {
                    let (service, operation) = named();
                    gaps.push(Gap::UnjoinedMessage { service, operation })
                }
                _ => {}
            }
        }
        gaps
    }

    /// The trace's root span (`None` unless there is exactly one).
    pub fn root(&self) -> Option<&Span> {
        let mut roots = self.spans.iter().filter(|s| s.parent_id.is_none());
        match (roots.next(), roots.next()) {
            (Some(root), None) => Some(root),
            _ => None,
        }
    }

    /// The trace as an indented tree: service, operation, kind, duration, failures marked.
    pub fn render(&self) -> String {
        let mut by_parent: HashMap<Option<&str>, Vec<&Span>> = HashMap::new();
        let ids: HashSet<&str> = self.spans.iter().map(|s| s.span_id.as_str()).collect();
        for span in &self.spans {
            // Orphans are printed as roots, so nothing is hidden.
            let parent = span.parent_id.as_deref().filter(|p| ids.contains(p));
            by_parent.entry(parent).or_default().push(span);
        }
        for children in by_parent.values_mut() {
            children.sort_by_key(|s| s.start_us);
        }
        let mut out = String::new();
        let mut stack: Vec<(&Span, usize)> = by_parent
            .get(&None)
            .map(|r| r.iter().rev().map(|s| (*s, 0)).collect())
            .unwrap_or_default();
        while let Some((span, depth)) = stack.pop() {
            out.push_str(&format!(
                "{:indent$}{:<18} {:<44} {:<9} {:>9.2} ms{}\n",
                "",
                span.service,
                span.operation,
                span.kind.as_deref().unwrap_or("-"),
                span.duration_us as f64 / 1000.0,
                if span.error { "  ERROR" } else { "" },
                indent = depth * 2,
            ));
            if let Some(children) = by_parent.get(&Some(span.span_id.as_str())) {
                stack.extend(children.iter().rev().map(|c| (*c, depth + 1)));
            }
        }
        out
    }
}
