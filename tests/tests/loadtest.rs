//! The `loadtest` tool, run as a process on a small load: it starts both sides, loads them and
//! reports figures for each. What it measures is printed for people to read, never asserted on
//! (timings on a shared 2-core machine are noise); what is asserted is that the comparison is
//! honest: every request answered, the traced side exported spans, the untraced side none.

use e2e::binary;
use serde_json::Value;

#[tokio::test]
async fn loadtest_compares_a_traced_and_an_untraced_stack_under_the_same_load() {
    let bin_dir = binary("gateway").parent().unwrap();
    let output = tokio::process::Command::new(binary("loadtest"))
        .args([
            "--requests",
            "200",
            "--concurrency",
            "4",
            "--rounds",
            "2",
            "--json",
        ])
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

    for side in ["untraced", "traced"] {
        let figures = &report[side];
        assert_eq!(figures["requests"], 200, "{side}");
        assert_eq!(figures["failed"], 0, "{side}: every request answered 2xx");
        assert!(figures["throughput_per_s"].as_f64().unwrap() > 0.0);
        for kind in [
            "all",
            "GET /api/inventory/{sku}",
            "GET /api/users/{id}",
            "POST /api/orders",
        ] {
            let p = &figures["latency_ms"][kind];
            let (p50, p99) = (p["p50"].as_f64().unwrap(), p["p99"].as_f64().unwrap());
            assert!(p50 > 0.0 && p50 <= p99, "{side} {kind}: {p}");
        }
        if cfg!(target_os = "linux") {
            assert!(
                figures["cpu_us_per_request"].as_f64().unwrap() > 0.0,
                "{side}"
            );
            assert!(figures["peak_rss_mib"].as_f64().unwrap() > 0.0, "{side}");
        }
    }
    assert_eq!(
        report["untraced"]["spans_exported"], 0,
        "OTEL_SDK_DISABLED exports nothing"
    );
    // 50 orders alone make well over 1000 spans (about 30 each, across six services).
    let traced = report["traced"]["spans_exported"].as_u64().unwrap();
    assert!(traced > 1000, "the traced side exported {traced} spans");
    // Every trace the load caused arrived complete, by tracecheck's rules (the services were
    // stopped with SIGTERM, so nothing is still queued).
    let traces = report["traced"]["traces"].as_u64().unwrap();
    assert!(
        traces >= 200,
        "{traces} traces for 200 requests and the logins"
    );
    assert_eq!(report["traced"]["complete_traces"].as_u64(), Some(traces));
    assert_eq!(report["untraced"]["traces"], 0);
    assert!(report["ratios"]["throughput"].as_f64().unwrap() > 0.0);
}
