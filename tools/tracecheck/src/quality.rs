//! Trace quality as a live figure: of the traces that started within a sliding window and have
//! settled, the share complete by tracecheck's rules ([`Trace::gaps`]), per root operation, and
//! every gap counted by its hop — the same figures in JSON and as Prometheus metrics.
//!
//! A trace is judged only once it has settled: no span of it ended within [`DEFAULT_SETTLE`].
//! Its spans reach a backend in batches — every service's batch processor waits up to 5 s
//! (`OTEL_BSP_SCHEDULE_DELAY`), a tail-sampling Collector holds a trace 10 s before it decides,
//! an export that fails is retried — so a trace judged sooner would count spans still on their
//! way as missing.

use crate::{Gap, Trace};
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write,
    time::Duration,
};

/// How long a trace's last span must have ended before the trace is judged: above the 5 s batch
/// delay of every service plus the 10 s decision wait of the tail-sampling tier, with room for
/// one retried export.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);
/// The window a figure covers, on the traces' start.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The figures over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    /// The window, in seconds.
    pub window_seconds: u64,
    /// How long a trace had to be quiet to be judged, in seconds.
    pub settle_seconds: u64,
    /// Settled traces in the window.
    pub traces: usize,
    /// Of those, the complete ones.
    pub complete: usize,
    /// `complete / traces`; `None` with no trace to judge.
    pub ratio: Option<f64>,
    /// Traces in the window not settled yet (not judged).
    pub unsettled: usize,
    /// The figures per root operation (`gateway POST /api/orders`), most traces first.
    pub roots: Vec<RootQuality>,
    /// Every gap by its hop, with the number of traces that have it, most first.
    pub gaps: Vec<HopGap>,
}

/// The figures of the traces of one root operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootQuality {
    /// `service operation` of the root span, or `(no single root)`.
    pub root: String,
    /// Settled traces.
    pub traces: usize,
    /// Complete ones.
    pub complete: usize,
    /// `complete / traces`.
    pub ratio: f64,
}

/// One hop where traces break, and how many.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HopGap {
    /// The hop ([`Gap::hop`]).
    pub hop: String,
    /// The settled traces that have it.
    pub traces: usize,
}

/// The root label of traces without exactly one root span.
pub const NO_SINGLE_ROOT: &str = "(no single root)";

/// Where a trace stands at a moment, for a window and a settle time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It started before the window (or has no span).
    Outside,
    /// In the window, but a span of it ended within the settle time: not judged yet.
    Unsettled,
    /// In the window and settled: judged.
    Settled,
}

/// Where `trace` stands at `now_us` (microseconds since the epoch).
pub fn standing(trace: &Trace, now_us: u64, window: Duration, settle: Duration) -> Standing {
    let Some(start) = trace.spans.iter().map(|s| s.start_us).min() else {
        return Standing::Outside;
    };
    let end = trace
        .spans
        .iter()
        .map(|s| s.start_us + s.duration_us)
        .max()
        .unwrap_or(start);
    if start < now_us.saturating_sub(window.as_micros() as u64) {
        Standing::Outside
    } else if end > now_us.saturating_sub(settle.as_micros() as u64) {
        Standing::Unsettled
    } else {
        Standing::Settled
    }
}

/// The figures for `traces`, at `now_us` (microseconds since the epoch).
pub fn measure<'a>(
    traces: impl IntoIterator<Item = &'a Trace>,
    now_us: u64,
    window: Duration,
    settle: Duration,
) -> Quality {
    let mut roots: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut gaps: BTreeMap<String, usize> = BTreeMap::new();
    let (mut judged, mut complete, mut unsettled) = (0, 0, 0);
    for trace in traces {
        match standing(trace, now_us, window, settle) {
            Standing::Outside => continue,
            Standing::Unsettled => {
                unsettled += 1;
                continue;
            }
            Standing::Settled => {}
        }
        let root = trace.root().map_or_else(
            || NO_SINGLE_ROOT.to_owned(),
            |root| format!("{} {}", root.service, root.operation),
        );
        let hops: BTreeSet<String> = trace.gaps().iter().map(Gap::hop).collect();
        let entry = roots.entry(root).or_default();
        entry.0 += 1;
        judged += 1;
        if hops.is_empty() {
            entry.1 += 1;
            complete += 1;
        }
        for hop in hops {
            *gaps.entry(hop).or_default() += 1;
        }
    }
    let mut roots: Vec<RootQuality> = roots
        .into_iter()
        .map(|(root, (traces, complete))| RootQuality {
            root,
            traces,
            complete,
            ratio: complete as f64 / traces as f64,
        })
        .collect();
    roots.sort_by(|a, b| b.traces.cmp(&a.traces).then_with(|| a.root.cmp(&b.root)));
    let mut gaps: Vec<HopGap> = gaps
        .into_iter()
        .map(|(hop, traces)| HopGap { hop, traces })
        .collect();
    gaps.sort_by(|a, b| b.traces.cmp(&a.traces).then_with(|| a.hop.cmp(&b.hop)));
    Quality {
        window_seconds: window.as_secs(),
        settle_seconds: settle.as_secs(),
        traces: judged,
        complete,
        ratio: (judged > 0).then(|| complete as f64 / judged as f64),
        unsettled,
        roots,
        gaps,
    }
}

impl Quality {
    /// The figures in Prometheus's text exposition format: `trace_quality_traces`,
    /// `trace_quality_complete_traces` and `trace_quality_ratio` per `root`, and
    /// `trace_quality_gap_traces` per `hop`.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in rows {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let root = |r: &RootQuality| format!("{{root=\"{}\"}}", escape(&r.root));
        family(
            "trace_quality_traces",
            "Settled traces in the window, by root operation.",
            self.roots
                .iter()
                .map(|r| (root(r), r.traces.to_string()))
                .collect(),
        );
        family(
            "trace_quality_complete_traces",
            "Settled traces complete by tracecheck's rules, by root operation.",
            self.roots
                .iter()
                .map(|r| (root(r), r.complete.to_string()))
                .collect(),
        );
        family(
            "trace_quality_ratio",
            "The share of settled traces that are complete, by root operation.",
            self.roots
                .iter()
                .map(|r| (root(r), r.ratio.to_string()))
                .collect(),
        );
        family(
            "trace_quality_gap_traces",
            "Settled traces with a gap at this hop.",
            self.gaps
                .iter()
                .map(|g| {
                    (
                        format!("{{hop=\"{}\"}}", escape(&g.hop)),
                        g.traces.to_string(),
                    )
                })
                .collect(),
        );
        family(
            "trace_quality_unsettled_traces",
            "Traces in the window not judged yet: a span of theirs ended within the settle time.",
            vec![(String::new(), self.unsettled.to_string())],
        );
        out
    }
}

/// A label value as the exposition format writes it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;

    fn span(id: &str, parent: Option<&str>, service: &str, kind: &str, operation: &str) -> Span {
        Span {
            span_id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            service: service.to_owned(),
            operation: operation.to_owned(),
            kind: Some(kind.to_owned()),
            start_us: 1_000_000,
            duration_us: 1_000,
            error: false,
            http: kind == "client",
            peer: (kind == "client").then(|| "payment-service".to_owned()),
            duplicate: false,
        }
    }

    fn order(id: &str, joined: bool) -> Trace {
        let mut spans = vec![
            span("a", None, "gateway", "server", "POST /api/orders"),
            span(
                "b",
                Some("a"),
                "order-service",
                "client",
                "POST /api/payments",
            ),
        ];
        if joined {
            spans.push(span(
                "c",
                Some("b"),
                "payment-service",
                "server",
                "POST /api/payments",
            ));
        }
        Trace {
            trace_id: id.to_owned(),
            spans,
        }
    }

    #[test]
    fn settled_traces_are_judged_per_root_and_gaps_counted_by_hop() {
        let traces = [order("1", true), order("2", false), order("3", false)];
        let mut late = order("4", true);
        late.spans[0].start_us = 1_900_000;
        let mut old = order("5", false);
        old.spans.iter_mut().for_each(|s| s.start_us = 0);
        let all: Vec<&Trace> = traces.iter().chain([&late, &old]).collect();
        let now = 2_000_000;
        let quality = measure(
            all,
            now,
            Duration::from_millis(1_500),
            Duration::from_millis(500),
        );
        assert_eq!(
            (quality.traces, quality.complete, quality.unsettled),
            (3, 1, 1)
        );
        assert_eq!(quality.ratio, Some(1.0 / 3.0));
        assert_eq!(quality.roots[0].root, "gateway POST /api/orders");
        assert_eq!(
            quality.gaps,
            [HopGap {
                hop: "order-service CLIENT POST /api/payments → no payment-service SERVER span"
                    .into(),
                traces: 2,
            }]
        );
        let text = quality.prometheus();
        assert!(text.contains(
            "trace_quality_gap_traces{hop=\"order-service CLIENT POST /api/payments → no \
             payment-service SERVER span\"} 2"
        ));
        assert!(text.contains("trace_quality_traces{root=\"gateway POST /api/orders\"} 3"));
        assert!(text.contains("trace_quality_unsettled_traces 1"));
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
