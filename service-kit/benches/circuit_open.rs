//! How fast an open circuit refuses a call (the budget: under 1 ms), printed as figures:
//! refusals through `Downstream::send` with the real tracing pipeline (tracing-opentelemetry into
//! the SDK, in-memory exporter) and with no subscriber, next to a real call on loopback.
//!
//! `cargo bench -p service-kit --bench circuit_open`; `cargo test` runs it once, unoptimised, so
//! it keeps compiling and working, and its figures are printed, not asserted.

use axum::{Router, http::StatusCode, routing::get};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SimpleSpanProcessor};
use service_kit::{BreakerConfig, ClientError, Downstream};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;

const REFUSALS: usize = 20_000;
const CALLS: usize = 500;

/// Per-call latencies of `n` runs of `call`, sorted.
async fn measure<F: Future<Output = ()>>(n: usize, mut call: impl FnMut() -> F) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    samples
}

fn report(label: &str, samples: &[Duration]) -> Duration {
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{label:<34} n={:<6} mean {:>8.2} µs  p50 {:>8.2} µs  p99 {:>8.2} µs  max {:>8.2} µs",
        samples.len(),
        mean.as_secs_f64() * 1e6,
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
    );
    mean
}

async fn refusals(open: &Downstream) -> Vec<Duration> {
    measure(REFUSALS, || async {
        let refused = open
            .send("/", || open.request(reqwest::Method::GET, "/"))
            .await;
        assert!(matches!(refused, Err(ClientError::CircuitOpen { .. })));
    })
    .await
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let caller = service_kit::Identity::anonymous("bench-caller");
    let healthy = Downstream::new("bench", &url, Duration::from_secs(2), &caller);
    let config = BreakerConfig {
        failure_threshold: 1,
        open_for: Duration::from_secs(3600),
    };
    let open =
        Downstream::with_circuit_breaker("bench", &url, Duration::from_secs(2), config, &caller);
    // One 503 opens it.
    let _ = open
        .send("/down", || open.request(reqwest::Method::GET, "/down"))
        .await;
    assert_eq!(open.circuit_state().map(|s| s.as_str()), Some("open"));

    println!("open-circuit refusal vs a real loopback call (target: refusal under 1 ms)\n");
    let untraced = report("refused, no subscriber", &refusals(&open).await);

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(shared_tracing::telemetry::bridge(provider.tracer("bench")));
    let _guard = tracing::subscriber::set_default(subscriber);
    let traced_samples = refusals(&open).await;
    let traced = report("refused, traced (OTel SDK)", &traced_samples);
    let real = report(
        "real GET on loopback, traced",
        &measure(CALLS, || async {
            let response = healthy
                .send("/", || healthy.request(reqwest::Method::GET, "/"))
                .await;
            assert!(response.is_ok());
        })
        .await,
    );

    let p99 = traced_samples[(traced_samples.len() - 1) * 99 / 100];
    let within = p99 < Duration::from_millis(1);
    println!();
    println!(
        "traced / untraced refusal:        {:.1}x",
        traced.as_secs_f64() / untraced.as_secs_f64()
    );
    println!(
        "real call / traced refusal:       {:.1}x",
        real.as_secs_f64() / traced.as_secs_f64()
    );
    println!(
        "traced refusal p99 vs 1 ms budget: {:.1}% ({})",
        p99.as_secs_f64() * 100.0 / 1e-3,
        if within { "within" } else { "OVER" }
    );
    println!(
        "spans exported during the traced run: {}",
        exporter.get_finished_spans().unwrap().len()
    );
}
