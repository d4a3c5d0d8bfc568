//! The figures of each side and their comparison, as a table or JSON.

use crate::{
    Options,
    workload::{KINDS, Sample},
};
use serde::Serialize;
use std::{collections::BTreeMap, fmt, time::Duration};

/// Latency percentiles, in milliseconds, from an HDR histogram of microseconds (3 significant
/// digits, 1 µs to 10 min).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

impl Percentiles {
    fn of(latencies: impl Iterator<Item = Duration>) -> Self {
        let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
            .expect("static bounds are valid");
        for latency in latencies {
            histogram.saturating_record(latency.as_micros().max(1) as u64);
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        let at = |q: f64| match histogram.is_empty() {
            true => 0.0,
            false => ms(histogram.value_at_quantile(q)),
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: ms(histogram.max()),
        }
    }
}

/// One side's figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figures {
    side: &'static str,
    requests: usize,
    failed: usize,
    throughput_per_s: f64,
    /// `all`, then one entry per kind of request.
    latency_ms: BTreeMap<&'static str, Percentiles>,
    cpu_us_per_request: Option<f64>,
    rss_mib: Option<f64>,
    peak_rss_mib: Option<f64>,
    /// The largest peak of one service.
    service_peak_rss_mib: Option<f64>,
    /// Each service's peak.
    peak_rss_mib_by_service: BTreeMap<&'static str, f64>,
    spans_exported: usize,
    /// Spans the services' batch processors dropped (queue full), as they reported on exit.
    spans_dropped: u64,
    /// Traces the receiver got, and those complete by tracecheck's rules.
    traces: usize,
    complete_traces: usize,
    /// The gateway's SERVER spans for the load's requests (warm-up included).
    gateway_server_spans: usize,
    /// `--sigterm`: what happened around the restart.
    restart: Option<RestartFigures>,
}

/// A service sent SIGTERM mid-run and started again, as the requests saw it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RestartFigures {
    service: String,
    /// It exited by itself (drained, flushed) within the grace period rather than being killed.
    exited_gracefully: bool,
    /// From the signal to its exit, and to its being healthy again.
    drain_ms: f64,
    away_ms: f64,
    /// Requests sent before the signal and answered after it, and how many failed: the
    /// clients' view, which includes requests that had not reached the service yet.
    in_flight: usize,
    in_flight_failed: usize,
    /// Requests the service itself was serving at the signal (its SERVER span open), how many
    /// were answered 2xx, and how many of their traces arrived complete.
    served_at_signal: usize,
    served_at_signal_ok: usize,
    served_at_signal_complete_traces: usize,
    /// Requests sent while it was away (signal to healthy), and how many of them failed.
    sent_while_away: usize,
    failed_while_away: usize,
    /// Failed requests sent once it was back.
    failed_after: usize,
}

impl RestartFigures {
    fn new(
        (service, restart): (String, crate::side::Restart),
        samples: &[Sample],
        exported: &crate::side::Exported,
    ) -> Self {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let in_flight: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.started < restart.signalled && s.started + s.latency > restart.signalled)
            .collect();
        // Whether a request's trace (from its `traceresponse`) is among `traces`.
        let traced_in = |s: &Sample, traces: &std::collections::HashSet<String>| {
            s.trace_id.as_ref().is_some_and(|id| traces.contains(id))
        };
        let served: Vec<&Sample> = samples
            .iter()
            .filter(|s| traced_in(s, &exported.served_at_signal))
            .collect();
        let away: Vec<&Sample> = samples
            .iter()
            .filter(|s| (restart.signalled..restart.back).contains(&s.started))
            .collect();
        RestartFigures {
            service,
            exited_gracefully: restart.exited_gracefully,
            drain_ms: ms(restart.exited - restart.signalled),
            away_ms: ms(restart.back - restart.signalled),
            in_flight: in_flight.len(),
            in_flight_failed: in_flight.iter().filter(|s| !s.ok).count(),
            served_at_signal: served.len(),
            served_at_signal_ok: served.iter().filter(|s| s.ok).count(),
            served_at_signal_complete_traces: served
                .iter()
                .filter(|s| traced_in(s, &exported.complete_ids))
                .count(),
            sent_while_away: away.len(),
            failed_while_away: away.iter().filter(|s| !s.ok).count(),
            failed_after: samples
                .iter()
                .filter(|s| s.started >= restart.back && !s.ok)
                .count(),
        }
    }
}

impl Figures {
    pub(crate) fn new(
        side: &'static str,
        samples: &[Sample],
        busy: Duration,
        cpu: Option<Duration>,
        memory: Option<crate::side::Memory>,
        restart: Option<(String, crate::side::Restart)>,
        exported: crate::side::Exported,
    ) -> Self {
        let mut latency_ms =
            BTreeMap::from([("all", Percentiles::of(samples.iter().map(|s| s.latency)))]);
        for kind in KINDS {
            let of_kind = samples.iter().filter(|s| s.kind == kind).map(|s| s.latency);
            latency_ms.insert(kind, Percentiles::of(of_kind));
        }
        let requests = samples.len();
        let mib = |kib: u64| kib as f64 / 1024.0;
        Figures {
            side,
            requests,
            failed: samples.iter().filter(|s| !s.ok).count(),
            throughput_per_s: requests as f64 / busy.as_secs_f64().max(f64::EPSILON),
            latency_ms,
            cpu_us_per_request: cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / requests.max(1) as f64),
            rss_mib: memory.as_ref().map(|m| mib(m.rss)),
            peak_rss_mib: memory.as_ref().map(|m| mib(m.peak)),
            service_peak_rss_mib: memory.as_ref().map(|m| mib(m.largest_peak)),
            peak_rss_mib_by_service: memory
                .iter()
                .flat_map(|m| &m.peaks)
                .map(|&(name, kib)| (name, mib(kib)))
                .collect(),
            restart: restart.map(|r| RestartFigures::new(r, samples, &exported)),
            spans_exported: exported.spans,
            spans_dropped: exported.dropped,
            traces: exported.traces,
            complete_traces: exported.complete,
            gateway_server_spans: exported.gateway_requests,
        }
    }
}

/// Both sides and the traced/untraced ratios.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    /// `closed` (as fast as answers come) or `open` (`rate_per_s` for `duration_s`).
    mode: &'static str,
    requests: usize,
    concurrency: usize,
    rate_per_s: Option<f64>,
    duration_s: Option<f64>,
    /// Requests each side got before the measured rounds (in `gateway_server_spans` too).
    warm_up: usize,
    /// Seconds the traced side's span receiver was away during the first round.
    receiver_outage_s: f64,
    rounds: usize,
    sample_ratio: f64,
    untraced: Figures,
    traced: Figures,
    /// traced ÷ untraced.
    ratios: BTreeMap<&'static str, Option<f64>>,
}

impl Comparison {
    /// `figures` holds the untraced side, then the traced one.
    pub(crate) fn new(options: &Options, figures: Vec<Figures>) -> Self {
        let [untraced, traced]: [Figures; 2] = figures.try_into().expect("two sides");
        let ratios = BTreeMap::from([
            (
                "throughput",
                ratio(
                    Some(traced.throughput_per_s),
                    Some(untraced.throughput_per_s),
                ),
            ),
            (
                "latency_p50",
                ratio(
                    Some(traced.latency_ms["all"].p50),
                    Some(untraced.latency_ms["all"].p50),
                ),
            ),
            (
                "latency_p99",
                ratio(
                    Some(traced.latency_ms["all"].p99),
                    Some(untraced.latency_ms["all"].p99),
                ),
            ),
            (
                "cpu_per_request",
                ratio(traced.cpu_us_per_request, untraced.cpu_us_per_request),
            ),
            (
                "peak_rss",
                ratio(traced.peak_rss_mib, untraced.peak_rss_mib),
            ),
        ]);
        Comparison {
            mode: if options.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            requests: options.rate.map_or(options.requests, |_| untraced.requests),
            concurrency: options.concurrency,
            rate_per_s: options.rate,
            duration_s: options.rate.map(|_| options.duration),
            warm_up: crate::warm_up(options),
            receiver_outage_s: options.receiver_outage,
            rounds: options.rounds,
            sample_ratio: options.sample_ratio,
            untraced,
            traced,
            ratios,
        }
    }
}

/// traced ÷ untraced, where there is an untraced figure to divide by.
fn ratio(traced: Option<f64>, untraced: Option<f64>) -> Option<f64> {
    match (traced, untraced) {
        (Some(t), Some(u)) if u > 0.0 => Some(t / u),
        _ => None,
    }
}

/// One line of the comparison: a label and the untraced, traced and ratio cells.
struct Row {
    label: String,
    cells: [String; 3],
}

impl Comparison {
    /// What the run was: the load, the rounds, the sampling and the sides.
    fn heading(&self) -> String {
        let load = match (self.rate_per_s, self.duration_s) {
            (Some(rate), Some(duration)) => format!(
                "open loop, {rate} requests/s due for {duration} s per side (latency from when \
                 each was due)"
            ),
            _ => format!(
                "closed loop, {} requests per side from {} clients",
                self.requests, self.concurrency
            ),
        };
        format!(
            "Tracing overhead: {load}, {} interleaved rounds; traced side samples {}% of new \
             traces and exports over OTLP/HTTP, untraced side runs with OTEL_SDK_DISABLED=true.",
            self.rounds,
            self.sample_ratio * 100.0
        )
    }

    /// Every figure of both sides, in the order they are printed.
    fn rows(&self) -> Vec<Row> {
        let (u, t) = (&self.untraced, &self.traced);
        let cell = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"));
        let mut rows = Vec::new();
        let mut figure = |label: &str, a: Option<f64>, b: Option<f64>, r: Option<f64>| {
            rows.push(Row {
                label: label.to_owned(),
                cells: [cell(a), cell(b), cell(r)],
            })
        };
        let saved = |key: &str| self.ratios.get(key).copied().flatten();
        figure(
            "throughput (requests/s)",
            Some(u.throughput_per_s),
            Some(t.throughput_per_s),
            saved("throughput"),
        );
        let (all_u, all_t) = (&u.latency_ms["all"], &t.latency_ms["all"]);
        for (label, a, b) in [
            ("latency p50 (ms)", all_u.p50, all_t.p50),
            ("latency p90 (ms)", all_u.p90, all_t.p90),
            ("latency p99 (ms)", all_u.p99, all_t.p99),
            ("latency p99.9 (ms)", all_u.p999, all_t.p999),
            ("latency max (ms)", all_u.max, all_t.max),
        ] {
            figure(label, Some(a), Some(b), ratio(Some(b), Some(a)));
        }
        for kind in KINDS
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (a, b) = (u.latency_ms[kind].p50, t.latency_ms[kind].p50);
            figure(
                &format!("  {kind} p50 (ms)"),
                Some(a),
                Some(b),
                ratio(Some(b), Some(a)),
            );
        }
        figure(
            "services' CPU per request (µs)",
            u.cpu_us_per_request,
            t.cpu_us_per_request,
            saved("cpu_per_request"),
        );
        figure(
            "services' resident memory (MiB)",
            u.rss_mib,
            t.rss_mib,
            None,
        );
        figure(
            "services' peak resident memory (MiB)",
            u.peak_rss_mib,
            t.peak_rss_mib,
            saved("peak_rss"),
        );
        figure(
            "largest one service's peak (MiB)",
            u.service_peak_rss_mib,
            t.service_peak_rss_mib,
            ratio(t.service_peak_rss_mib, u.service_peak_rss_mib),
        );
        for (service, traced) in &t.peak_rss_mib_by_service {
            let untraced = u.peak_rss_mib_by_service.get(service).copied();
            figure(
                &format!("  {service} peak (MiB)"),
                untraced,
                Some(*traced),
                ratio(Some(*traced), untraced),
            );
        }
        let mut count = |label: &str, a: String, b: String| {
            rows.push(Row {
                label: label.to_owned(),
                cells: [a, b, String::new()],
            })
        };
        count(
            "spans exported",
            u.spans_exported.to_string(),
            t.spans_exported.to_string(),
        );
        count(
            "spans dropped (batch queue full)",
            u.spans_dropped.to_string(),
            t.spans_dropped.to_string(),
        );
        count(
            "traces complete / received",
            format!("{}/{}", u.complete_traces, u.traces),
            format!("{}/{}", t.complete_traces, t.traces),
        );
        count(
            "requests sent / gateway SERVER spans",
            format!("{}/{}", u.requests + self.warm_up, u.gateway_server_spans),
            format!("{}/{}", t.requests + self.warm_up, t.gateway_server_spans),
        );
        count(
            "failed requests",
            u.failed.to_string(),
            t.failed.to_string(),
        );
        rows
    }

    /// The comparison as a Markdown table, for docs/performance.md: the heading, then one row
    /// per figure.
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!(
            "{}

",
            self.heading()
        );
        out.push_str("| | untraced | traced | traced ÷ untraced |\n|---|---:|---:|---:|\n");
        for row in self.rows() {
            let label = match row.label.strip_prefix("  ") {
                Some(inner) => format!("&nbsp;&nbsp;{inner}"),
                None => row.label,
            };
            out.push_str(&format!(
                "| {label} | {} | {} | {} |\n",
                row.cells[0], row.cells[1], row.cells[2]
            ));
        }
        out
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n{}\n", self.heading())?;
        if self.receiver_outage_s > 0.0 {
            writeln!(
                f,
                "The traced side's span receiver was away for {} s, a second into the first \
                 round: spans its services could not export then are lost (incomplete traces \
                 below); no request may fail.\n",
                self.receiver_outage_s
            )?;
        }
        writeln!(
            f,
            "{:<42} {:>12} {:>12} {:>10}",
            "", "untraced", "traced", "ratio"
        )?;
        let rows = self.rows();
        for (index, row) in rows.iter().enumerate() {
            let line = format!(
                "{:<42} {:>12} {:>12} {:>10}",
                row.label, row.cells[0], row.cells[1], row.cells[2]
            );
            match index + 1 == rows.len() {
                true => write!(f, "{}", line.trim_end())?,
                false => writeln!(f, "{}", line.trim_end())?,
            }
        }
        let t = &self.traced;
        if let Some(r) = &t.restart {
            write!(
                f,
                "\n\n{} (traced side) was sent SIGTERM a second into the first round: it {} \
                 {:.0} ms later and was healthy again {:.0} ms after the signal.\n\
                 requests it was serving at the signal: {}, answered 2xx: {}, traces complete: \
                 {}\n\
                 requests in flight between client and services at the signal: {}, failed: {}\n\
                 requests sent while it was away: {}, failed: {}; failed after it was back: {}",
                r.service,
                if r.exited_gracefully {
                    "exited by itself"
                } else {
                    "did not exit and was killed"
                },
                r.drain_ms,
                r.away_ms,
                r.served_at_signal,
                r.served_at_signal_ok,
                r.served_at_signal_complete_traces,
                r.in_flight,
                r.in_flight_failed,
                r.sent_while_away,
                r.failed_while_away,
                r.failed_after,
            )?;
        }
        Ok(())
    }
}
