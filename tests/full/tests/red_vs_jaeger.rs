//! RED from the same spans, two ways: the viewer's `/api/metrics/*` computed from its store, and
//! the real path — the Collector's spanmetrics connector, Prometheus's remote-write receiver and
//! Jaeger v2's `/api/metrics/*` reading it. One Collector sends the shop's spans to all three.
//!
//! The tolerances, and why. The viewer counts each span once, at its end. Prometheus's `rate`
//! takes a counter's increase between the first and the last sample in the window and
//! extrapolates it towards the window's edges — by up to one flush interval (1 s here) at each
//! end of a 20 s window, and for each series only as far as its counter would stay above zero.
//! So a rate may be up to 2 × 1 s / 20 s = 10% high: calls are allowed 15%. Ratios of rates are
//! extrapolated alike only when both series started alike, which the error series and the
//! buckets of a histogram do not: the error share is allowed 10% (or 0.02), and a latency
//! quantile the width of the bucket it falls in — the resolution of the histogram both read.

use e2e::{Collector, Jaeger, Prometheus, TestStack};
use otlp_receiver::Receiver;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

const APPROVED: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";
/// The window the figures are compared over, in whole seconds (Jaeger turns `ratePer` into a
/// PromQL duration and keeps only whole units).
const WINDOW_MS: u64 = 20_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Each series' value at the query's last point, by its labels (`gateway`, or
/// `gateway POST /api/orders` grouped by operation); NaN points are left out.
async fn last_values(base: &str, query: &str) -> BTreeMap<String, f64> {
    let url = format!("{base}{query}");
    let body: Value = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut values = BTreeMap::new();
    for series in body["metrics"]
        .as_array()
        .unwrap_or_else(|| panic!("{url}: {body}"))
    {
        let mut labels: Vec<(&str, &str)> = series["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["name"].as_str().unwrap(), l["value"].as_str().unwrap()))
            .collect();
        // Jaeger's label order is a Go map's.
        labels.sort_by_key(|(name, _)| if *name == "service_name" { 0 } else { 1 });
        let key = labels.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(" ");
        let last = series["metricPoints"].as_array().unwrap().last().cloned();
        if let Some(value) = last.and_then(|p| p["gaugeValue"]["doubleValue"].as_f64()) {
            values.insert(key, value);
        }
    }
    values
}

fn close(viewer: f64, jaeger: f64, relative: f64, absolute: f64) -> bool {
    (viewer - jaeger).abs() <= absolute.max(relative * jaeger.abs())
}

/// The spanmetrics connector's default bucket bounds (ms).
const BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

/// The width of the bucket `value` (ms) falls in: the resolution of a quantile read from it.
fn bucket_width(value: f64) -> f64 {
    let mut lower = 0.0;
    for bound in BUCKETS_MS {
        if value <= bound {
            return bound - lower;
        }
        lower = bound;
    }
    f64::INFINITY
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewers_red_metrics_agree_with_spanmetrics_prometheus_and_jaeger() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(dir.path()).await;
    let jaeger = Jaeger::start_reading(dir.path(), Some(&prometheus)).await;
    let viewer = Receiver::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The compose Collector's RED pipeline, flushing every second instead of 15, and the
    // spans to the viewer too.
    let config = dir.path().join("red.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      http:
connectors:
  spanmetrics:
    metrics_flush_interval: 1s
    exemplars:
      enabled: true
exporters:
  otlp_grpc/jaeger:
    endpoint: jaeger:4317
    tls:
      insecure: true
  otlp_http/viewer:
    endpoint: {}
  prometheusremotewrite:
    endpoint: {}
extensions:
  health_check:
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc/jaeger, otlp_http/viewer, spanmetrics]
    metrics:
      receivers: [spanmetrics]
      exporters: [prometheusremotewrite]
"#,
            viewer.endpoint(),
            prometheus.remote_write_endpoint()
        ),
    )
    .unwrap();
    let collector = Collector::start(config.to_str().unwrap(), &jaeger, dir.path()).await;
    let stack =
        TestStack::start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.otlp_endpoint())]).await;
    let token = stack.login("alice", "alice123").await;
    let shop = |orders: usize, declined: usize, lookups: usize| {
        let (stack, token) = (&stack, &token);
        async move {
            for _ in 0..orders {
                let reply = stack.order(token, "widget", 1, APPROVED).await;
                assert_eq!(reply.status, 201, "{}", reply.body);
            }
            for _ in 0..declined {
                let reply = stack.order(token, "gadget", 1, DECLINED).await;
                assert_eq!(reply.status, 402, "{}", reply.body);
            }
            for _ in 0..lookups {
                stack
                    .call(
                        reqwest::Method::GET,
                        "/api/inventory/gizmo",
                        None,
                        &[],
                        None,
                    )
                    .await;
            }
        }
    };

    // Every series exists before the window starts: Prometheus's `rate` cannot see a counter's
    // first value, so the compared traffic must come after it.
    shop(1, 1, 1).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let start = now_ms();
    let end = start + WINDOW_MS;
    // Quiet for 2 s (a flush before the traffic), traffic, then quiet until the window ends
    // (every span flushed to Prometheus and exported to the viewer).
    tokio::time::sleep(Duration::from_secs(2)).await;
    shop(8, 3, 10).await;
    assert!(
        now_ms() + 4_000 < end,
        "the traffic took too long for the window"
    );
    tokio::time::sleep(Duration::from_millis(end - now_ms() + 500)).await;

    let window = format!("endTs={end}&lookback=0&step=1000&ratePer={WINDOW_MS}");
    let services: String = e2e::SERVICES
        .iter()
        .map(|s| format!("service={}&", s.name))
        .collect();
    let (v, j) = (viewer.query_url(), jaeger.query_api());
    let mut differences = Vec::new();
    let mut compared = 0;
    // The largest relative difference per figure, printed.
    let mut largest: BTreeMap<String, f64> = BTreeMap::new();
    // (figure, query, relative and absolute tolerance; a quantile's is its bucket's width)
    let figures = [
        ("calls", "", 0.15, 0.0),
        ("calls", "&groupByOperation=true", 0.15, 0.0),
        ("calls", "&spanKind=client", 0.15, 0.0),
        ("errors", "&spanKind=client", 0.10, 0.02),
        (
            "errors",
            "&groupByOperation=true&spanKind=client",
            0.10,
            0.02,
        ),
        ("latencies", "&quantile=0.5", 0.0, 0.0),
        (
            "latencies",
            "&quantile=0.95&groupByOperation=true",
            0.0,
            0.0,
        ),
    ];
    for (figure, extra, relative, absolute) in figures {
        let query = format!("/api/metrics/{figure}?{services}{window}{extra}");
        let (viewer, jaeger) = (last_values(&v, &query).await, last_values(&j, &query).await);
        assert!(!jaeger.is_empty(), "Jaeger has no {figure} for {query}");
        for (series, jaeger_value) in &jaeger {
            let absolute = match figure {
                "latencies" => bucket_width(*jaeger_value),
                _ => absolute,
            };
            match viewer.get(series) {
                Some(viewer_value) if close(*viewer_value, *jaeger_value, relative, absolute) => {
                    compared += 1;
                    let off = (viewer_value - jaeger_value).abs() / jaeger_value.abs().max(1e-9);
                    let seen = largest.entry(format!("{figure}{extra}")).or_default();
                    *seen = seen.max(off);
                }
                other => differences.push(format!(
                    "{figure}{extra} {series}: viewer {other:?} / jaeger {jaeger_value}"
                )),
            }
        }
        for series in viewer.keys().filter(|s| !jaeger.contains_key(*s)) {
            differences.push(format!("{figure}{extra} {series}: in the viewer only"));
        }
    }
    println!(
        "{compared} series agree; the largest relative difference per figure: {largest:#?}; {} \
         differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(differences.is_empty(), "{} differences", differences.len());

    // The latency buckets' exemplars name traces the viewer holds: from a metric to its traces.
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query_exemplars?query=traces_span_metrics_duration_milliseconds_bucket&start={}&end={}",
        prometheus.port(),
        start / 1000,
        end / 1000 + 1
    );
    let exemplars: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let trace_ids: Vec<&str> = exemplars["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .filter_map(|exemplar| exemplar["labels"]["trace_id"].as_str())
        .collect();
    assert!(!trace_ids.is_empty(), "no exemplars: {exemplars}");
    for trace_id in &trace_ids {
        assert!(
            !viewer.store().trace(trace_id).is_empty(),
            "exemplar trace {trace_id} is not in the viewer"
        );
    }
    assert!(compared >= 30, "only {compared} series compared");
}
