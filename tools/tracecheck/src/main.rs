//! `tracecheck`: fetch a trace from a Jaeger-compatible query API, print it as a tree, and exit 0
//! only if it is complete.
//!
//! ```text
//! tracecheck --api http://localhost:16686 <trace-id>
//! tracecheck --place-order --gateway http://localhost:8080     # log in, order, check its trace
//! tracecheck --watch --listen 0.0.0.0:9464   # serve the window's trace quality as metrics
//! ```

use clap::Parser;
use serde_json::{Value, json};
use std::{process::ExitCode, time::Duration};
use tracecheck::{ORDER_SERVICES, Trace, quality, watch};

/// Checks that a trace is complete: expected services, one root, no orphan, every hop joined.
#[derive(Debug, Parser)]
#[command(name = "tracecheck", version, about)]
struct Args {
    /// The trace to check (32 hex digits). Not needed with --place-order.
    trace_id: Option<String>,
    /// Base URL of the Jaeger (or Jaeger-compatible) query API and UI.
    #[arg(long, default_value = "http://localhost:16686")]
    api: String,
    /// Log in as alice, place an order through the gateway and check that order's trace.
    #[arg(long)]
    place_order: bool,
    /// Base URL of the gateway, for --place-order.
    #[arg(long, default_value = "http://localhost:8080")]
    gateway: String,
    /// Services the trace must contain (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = ORDER_SERVICES.map(String::from))]
    expect_services: Vec<String>,
    /// How long to wait for the trace to arrive complete, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Run until stopped: poll the query API for the window's traces and serve their quality
    /// (`GET /metrics` for Prometheus, `GET /api/quality` as JSON) on --listen.
    #[arg(long)]
    watch: bool,
    /// Where --watch serves its figures.
    #[arg(long, default_value = "0.0.0.0:9464")]
    listen: std::net::SocketAddr,
    /// The window --watch judges, on the traces' start, in seconds.
    #[arg(long, default_value_t = quality::DEFAULT_WINDOW.as_secs())]
    window_seconds: u64,
    /// How long a trace's last span must have ended before --watch judges it, in seconds.
    #[arg(long, default_value_t = quality::DEFAULT_SETTLE.as_secs())]
    settle_seconds: u64,
    /// How often --watch polls, in seconds.
    #[arg(long, default_value_t = 10)]
    poll_seconds: u64,
    /// How many traces --watch asks for per service and poll.
    #[arg(long, default_value_t = 500)]
    limit: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.watch {
        return watch(&args).await;
    }
    let http = reqwest::Client::new();
    let trace_id = match (&args.trace_id, args.place_order) {
        (Some(id), false) => id.to_ascii_lowercase(),
        (None, true) => match place_order(&http, &args.gateway).await {
            Ok(id) => id,
            Err(error) => {
                eprintln!("placing the order failed: {error}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("give a trace id or --place-order (not both)");
            return ExitCode::from(2);
        }
    };
    let expected: Vec<&str> = args.expect_services.iter().map(String::as_str).collect();
    let link = format!("{}/trace/{trace_id}", args.api.trim_end_matches('/'));

    // Spans arrive in batches from every service: poll until complete or out of time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut last: Result<(Trace, Vec<String>), String> = Err("not fetched yet".into());
    loop {
        last = fetch(&http, &args.api, &trace_id)
            .await
            .map(|trace| {
                let problems = trace.problems(&expected);
                (trace, problems)
            })
            .or_else(|error| match last {
                // Keep the last trace seen if a later fetch fails.
                Ok(seen) => Ok(seen),
                Err(_) => Err(error),
            });
        let complete = matches!(&last, Ok((_, problems)) if problems.is_empty());
        if complete || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    match last {
        Ok((trace, problems)) => {
            println!("trace {trace_id}: {} spans\n", trace.spans.len());
            print!("{}", trace.render());
            println!("\n{link}");
            if problems.is_empty() {
                println!(
                    "complete: {} services, one root, every hop joined",
                    expected.len()
                );
                ExitCode::SUCCESS
            } else {
                println!("INCOMPLETE:");
                for problem in problems {
                    println!("  - {problem}");
                }
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            println!("trace {trace_id}: {error}\n{link}");
            ExitCode::FAILURE
        }
    }
}

/// `--watch`: polls and serves until Ctrl-C or SIGTERM.
async fn watch(args: &Args) -> ExitCode {
    let settings = watch::Settings {
        api: args.api.clone(),
        window: Duration::from_secs(args.window_seconds),
        settle: Duration::from_secs(args.settle_seconds),
        limit: args.limit,
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("tracecheck: {}: {error}", args.listen);
            return ExitCode::from(2);
        }
    };
    println!(
        "tracecheck: watching {} (window {} s, settle {} s); metrics on http://{}/metrics",
        settings.api, args.window_seconds, args.settle_seconds, args.listen
    );
    let latest = watch::Latest::default();
    tokio::spawn(watch::poll(
        settings,
        Duration::from_secs(args.poll_seconds),
        latest.clone(),
    ));
    let stopped = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    match axum::serve(listener, watch::router(latest))
        .with_graceful_shutdown(stopped)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tracecheck: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch(http: &reqwest::Client, api: &str, trace_id: &str) -> Result<Trace, String> {
    let url = format!("{}/api/traces/{trace_id}", api.trim_end_matches('/'));
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err("not found (yet)".into());
    }
    let body: Value = response
        .error_for_status()
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Trace::from_response(&body)
}

/// Logs in as alice, orders one widget, and returns the trace id from `traceresponse`.
async fn place_order(http: &reqwest::Client, gateway: &str) -> Result<String, String> {
    let gateway = gateway.trim_end_matches('/');
    let login: Value = http
        .post(format!("{gateway}/api/login"))
        .json(&json!({ "username": "alice", "password": "alice123" }))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("login: {e}"))?
        .json()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let token = login["token"].as_str().ok_or("login returned no token")?;
    let response = http
        .post(format!("{gateway}/api/orders"))
        .bearer_auth(token)
        .json(&json!({ "items": [{ "sku": "widget", "quantity": 1 }], "card_number": "4242424242424242" }))
        .send()
        .await
        .map_err(|e| format!("order: {e}"))?;
    let status = response.status();
    let trace_id = tracecheck::traceresponse_trace_id(response.headers())
        .ok_or("the gateway sent no traceresponse header")?;
    let body: Value = response.json().await.unwrap_or(Value::Null);
    println!("order placed: {status} {body}");
    if status != reqwest::StatusCode::CREATED {
        return Err(format!("the order was not created ({status})"));
    }
    Ok(trace_id)
}
