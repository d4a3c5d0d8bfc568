//! tracecheck's long-running mode: polls a Jaeger-compatible query API for the traces of a
//! sliding window and serves their quality ([`crate::quality`]) as Prometheus metrics
//! (`GET /metrics`) and JSON (`GET /api/quality`), so a Prometheus that scrapes it graphs the
//! share of complete traces and names the hop where they break.

use crate::{
    Trace,
    jaeger::{self, Response},
    quality::{self, Quality},
};
use axum::{Json, Router, extract::State, http::header::CONTENT_TYPE, routing::get};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL of the query API (`http://jaeger:16686`).
    pub api: String,
    /// The window the figures cover.
    pub window: Duration,
    /// How long a trace must be quiet before it is judged.
    pub settle: Duration,
    /// How many traces to ask for per search.
    pub limit: usize,
}

/// What one poll found.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The figures.
    pub quality: Quality,
    /// When the poll that made them answered, in seconds since the epoch.
    pub at_seconds: u64,
    /// Traces in the answers that were not a trace of Jaeger's model (left out).
    pub unreadable: usize,
    /// Whether a service had more traces in the window than [`MAX_PAGES`] searches return.
    pub truncated: bool,
}

/// The latest poll's figures, shared by the poller and the server.
pub type Latest = Arc<RwLock<Option<Snapshot>>>;

/// The most searches per service and poll: past `MAX_PAGES × limit` traces, the window's older
/// traces are left out (and the figures say so).
pub const MAX_PAGES: usize = 10;

/// Every trace that started within the window, from searches per service (a trace found
/// through several services is kept once). Jaeger answers the newest traces first, `limit` at
/// most: a full answer is followed by a search ending before the oldest trace it held.
pub async fn collect(http: &reqwest::Client, settings: &Settings) -> Result<Snapshot, String> {
    let api = settings.api.trim_end_matches('/');
    let services: Response<Vec<String>> = get_json(http, &format!("{api}/api/services")).await?;
    let now = now_micros();
    let start = now.saturating_sub(settings.window.as_micros() as u64);
    let mut traces = HashMap::new();
    let (mut unreadable, mut truncated) = (0, false);
    for service in services.data.unwrap_or_default() {
        let mut end = now;
        for page in 0..=MAX_PAGES {
            if page == MAX_PAGES {
                truncated = true;
                break;
            }
            let url = reqwest::Url::parse_with_params(
                &format!("{api}/api/traces"),
                [
                    ("service", service.as_str()),
                    ("start", &start.to_string()),
                    ("end", &end.to_string()),
                    ("limit", &settings.limit.to_string()),
                ],
            )
            .map_err(|e| e.to_string())?;
            let found: Response<Vec<jaeger::Trace>> = get_json(http, url.as_str()).await?;
            let found = found.data.unwrap_or_default();
            let (count, before) = (found.len(), traces.len());
            let mut oldest = end;
            for trace in found {
                match Trace::from_model(&trace) {
                    Ok(trace) => {
                        let first = trace.spans.iter().map(|s| s.start_us).min();
                        oldest = oldest.min(first.unwrap_or(oldest));
                        traces.insert(trace.trace_id.clone(), trace);
                    }
                    Err(_) => unreadable += 1,
                }
            }
            // A short answer holds the rest; one with nothing new would only repeat.
            if count < settings.limit || traces.len() == before || oldest <= start {
                break;
            }
            end = oldest - 1;
        }
    }
    let traces: Vec<Trace> = traces.into_values().collect();
    Ok(Snapshot {
        quality: quality::measure(&traces, now, settings.window, settings.settle),
        at_seconds: now / 1_000_000,
        unreadable,
        truncated,
    })
}

/// Polls every `every`, replacing the figures in `latest`; a failed poll is reported on stderr
/// and leaves the last figures in place (`trace_quality_last_poll_timestamp_seconds` says how
/// old they are).
pub async fn poll(settings: Settings, every: Duration, latest: Latest) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client with a timeout always builds");
    loop {
        match collect(&http, &settings).await {
            Ok(snapshot) => *latest.write().unwrap_or_else(|e| e.into_inner()) = Some(snapshot),
            Err(error) => eprintln!("tracecheck: polling {}: {error}", settings.api),
        }
        tokio::time::sleep(every).await;
    }
}

/// `GET /metrics` (the Prometheus text format) and `GET /api/quality` (JSON) over `latest`:
/// 503 until the first poll has answered. `GET /healthz` answers 200 while the server runs
/// (the container health check's probe).
pub fn router(latest: Latest) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/quality", get(figures))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(latest)
}

type Answer<T> = Result<T, (axum::http::StatusCode, &'static str)>;

fn current(latest: &Latest) -> Answer<Snapshot> {
    latest
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or((
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no poll has answered yet",
        ))
}

async fn metrics(
    State(latest): State<Latest>,
) -> Answer<([(&'static str, &'static str); 1], String)> {
    let snapshot = current(&latest)?;
    let mut text = snapshot.quality.prometheus();
    for (name, help, value) in [
        (
            "trace_quality_last_poll_timestamp_seconds",
            "When the poll that made these figures answered.",
            snapshot.at_seconds,
        ),
        (
            "trace_quality_unreadable_traces",
            "Traces in the answers that were not a trace of Jaeger's model.",
            snapshot.unreadable as u64,
        ),
        (
            "trace_quality_truncated",
            "1 when a service had more traces in the window than the searches return.",
            u64::from(snapshot.truncated),
        ),
    ] {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    Ok((
        [(
            CONTENT_TYPE.as_str(),
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

async fn figures(State(latest): State<Latest>) -> Answer<Json<Quality>> {
    current(&latest).map(|snapshot| Json(snapshot.quality))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    http.get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{url}: {e}"))
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}
