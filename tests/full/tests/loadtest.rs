//! The `loadtest` tool, run as a process on a small load: it starts both sides, loads them and
//! reports figures for each. What it measures is printed for people to read, never asserted on
//! (timings on a shared 2-core machine are noise); what is asserted is that the comparison is
//! honest: every request answered and seen by the gateway (one SERVER span each, warm-up
//! included), every trace complete, no span dropped, the traced side exported spans, the
//! untraced side none — in the closed loop and in the open loop; and under faults, that what is
//! lost is counted (a span receiver away, a batch queue too small) and that a service sent
//! SIGTERM finishes what it was serving and flushes its spans.

use e2e::binary;
use serde_json::Value;

/// Runs the load tool with `args` on the freshly built binaries; returns its JSON report.
async fn loadtest(args: &[&str]) -> Value {
    let bin_dir = binary("gateway").parent().unwrap().to_owned();
    let output = tokio::process::Command::new(binary("loadtest"))
        .args(args)
        .arg("--json")
        .arg("--bin-dir")
        .arg(bin_dir)
        .env("PATH", e2e::path_with_backends())
        .output()
        .await
        .expect("running loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    println!("{report:#}");
    report
}

/// What holds for any honest run that sent `requests` per side.
fn assert_honest(report: &Value, requests: u64) {
    for side in ["untraced", "traced"] {
        let figures = &report[side];
        assert_eq!(figures["requests"], requests, "{side}");
        assert_eq!(figures["failed"], 0, "{side}: every request answered 2xx");
        assert!(figures["throughput_per_s"].as_f64().unwrap() > 0.0);
        for kind in [
            "all",
            "GET /api/inventory/{sku}",
            "GET /api/users/{id}",
            "POST /api/orders",
        ] {
            let p = &figures["latency_ms"][kind];
            let (p50, p99, max) = (
                p["p50"].as_f64().unwrap(),
                p["p99"].as_f64().unwrap(),
                p["max"].as_f64().unwrap(),
            );
            assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{side} {kind}: {p}");
        }
        if cfg!(target_os = "linux") {
            assert!(
                figures["cpu_us_per_request"].as_f64().unwrap() > 0.0,
                "{side}"
            );
            let (all, one) = (
                figures["peak_rss_mib"].as_f64().unwrap(),
                figures["service_peak_rss_mib"].as_f64().unwrap(),
            );
            assert!(0.0 < one && one < all, "{side}: {one} of {all}");
            let each = figures["peak_rss_mib_by_service"].as_object().unwrap();
            assert_eq!(each.len(), 6, "{side}: {each:?}");
        }
        assert_eq!(figures["spans_dropped"], 0, "{side}: no span dropped");
    }
    assert_eq!(
        report["untraced"]["spans_exported"], 0,
        "OTEL_SDK_DISABLED exports nothing"
    );
    assert_eq!(report["untraced"]["traces"], 0);
    // Every request the tool counted reached the gateway: one SERVER span each (warm-up
    // included), no more — the figures are the real requests'.
    let warm_up = report["warm_up"].as_u64().unwrap();
    assert_eq!(
        report["traced"]["gateway_server_spans"].as_u64(),
        Some(requests + warm_up)
    );
    // A quarter are orders, about 30 spans each, across six services.
    let traced = report["traced"]["spans_exported"].as_u64().unwrap();
    assert!(
        traced > 5 * requests,
        "the traced side exported {traced} spans"
    );
    // Every trace the load caused arrived complete, by tracecheck's rules (the services were
    // stopped with SIGTERM after their consumers drained, so nothing is still queued).
    let traces = report["traced"]["traces"].as_u64().unwrap();
    assert!(
        traces >= requests + warm_up,
        "{traces} traces for {requests} requests, the warm-up and the logins"
    );
    assert_eq!(report["traced"]["complete_traces"].as_u64(), Some(traces));
    assert!(report["ratios"]["throughput"].as_f64().unwrap() > 0.0);
}

/// Both loops in one test, one after the other: two load runs at once would share two cores.
#[tokio::test]
async fn loadtest_compares_a_traced_and_an_untraced_stack_under_the_same_load() {
    let report = loadtest(&["--requests", "200", "--concurrency", "4", "--rounds", "2"]).await;
    assert_eq!(report["mode"], "closed");
    assert_honest(&report, 200);

    // Open loop, 50 requests/s for 4 s per side: 200 due, whatever the answers' pace.
    let report = loadtest(&["--rate", "50", "--duration", "4", "--rounds", "2"]).await;
    assert_eq!(report["mode"], "open");
    assert_eq!(report["rate_per_s"], 50.0);
    assert_honest(&report, 200);

    // The span receiver gone for 3 s in the middle of the traced side's load (port closed,
    // connections dropped), then back: no request fails, spans flow again, and the loss is
    // shown, not hidden (what was sent while it was away is gone).
    let report = loadtest(&[
        "--rate",
        "40",
        "--duration",
        "8",
        "--rounds",
        "1",
        "--receiver-outage",
        "3",
    ])
    .await;
    assert_eq!(report["receiver_outage_s"], 3.0);
    let traced = &report["traced"];
    assert_eq!(traced["requests"], 320);
    assert_eq!(traced["failed"], 0, "a receiver outage failed requests");
    let (traces, complete) = (
        traced["traces"].as_u64().unwrap(),
        traced["complete_traces"].as_u64().unwrap(),
    );
    assert!(complete > 0, "no trace complete: spans never flowed again");
    println!(
        "receiver away 3 s: {complete} of {traces} traces complete, {} of {} requests seen by \
         the gateway's spans",
        traced["gateway_server_spans"],
        320 + report["warm_up"].as_u64().unwrap()
    );

    // A batch queue of 8 spans cannot hold a request's spans between exports: the services say
    // how many they dropped (their SDKs log it on exit), and every request whose gateway span
    // did not arrive is among them.
    let report = loadtest(&[
        "--rate",
        "40",
        "--duration",
        "4",
        "--rounds",
        "1",
        "--traced-env",
        "OTEL_BSP_MAX_QUEUE_SIZE=8",
    ])
    .await;
    let traced = &report["traced"];
    let dropped = traced["spans_dropped"].as_u64().unwrap();
    let missing = 160 + report["warm_up"].as_u64().unwrap()
        - traced["gateway_server_spans"].as_u64().unwrap();
    assert!(dropped > 0, "a queue of 8 dropped nothing: {traced}");
    assert!(
        missing <= dropped,
        "{missing} gateway spans missing, {dropped} counted dropped"
    );
    assert_eq!(report["untraced"]["spans_dropped"], 0);

    // inventory-service sent SIGTERM mid-run while every request keeps it busy for 300 ms (a
    // per-request fault in the baggage): it stops taking connections, finishes the requests it
    // was serving — each answered 2xx, each trace complete, so its spans were flushed on the way
    // out — and is started again.
    let report = loadtest(&[
        "--rate",
        "40",
        "--duration",
        "6",
        "--rounds",
        "1",
        "--sigterm",
        "inventory-service",
        "--baggage",
        "fault.inventory-service=slow:300",
    ])
    .await;
    let restart = &report["traced"]["restart"];
    assert_eq!(restart["service"], "inventory-service");
    assert_eq!(restart["exited_gracefully"], true, "{restart}");
    let served = restart["served_at_signal"].as_u64().unwrap();
    assert!(served > 0, "nothing in flight at the signal: {restart}");
    assert_eq!(
        restart["served_at_signal_ok"].as_u64(),
        Some(served),
        "{restart}"
    );
    assert_eq!(
        restart["served_at_signal_complete_traces"].as_u64(),
        Some(served),
        "{restart}"
    );
    assert!(restart["drain_ms"].as_f64().unwrap() <= restart["away_ms"].as_f64().unwrap());
    assert!(report["untraced"]["restart"].is_null());
}
