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
    /// How many traces to ask for per service and poll.
    pub limit: usize,
}

/// The latest figures, shared by the poller and the server.
pub type Latest = Arc<RwLock<Option<Quality>>>;

/// Every trace that started within the window, from a search per service (a trace found
/// through several services is kept once).
pub async fn collect(http: &reqwest::Client, settings: &Settings) -> Result<Vec<Trace>, String> {
    let api = settings.api.trim_end_matches('/');
    let services: Response<Vec<String>> = get_json(http, &format!("{api}/api/services")).await?;
    let end = now_micros();
    let start = end.saturating_sub(settings.window.as_micros() as u64);
    let mut traces = HashMap::new();
    for service in services.data.unwrap_or_default() {
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
        for trace in found.data.unwrap_or_default() {
            traces.insert(trace.trace_id.clone(), Trace::from_model(&trace)?);
        }
    }
    Ok(traces.into_values().collect())
}

/// Polls every `every`, replacing the figures in `latest`; a failed poll is reported on stderr
/// and leaves the last figures in place.
pub async fn poll(settings: Settings, every: Duration, latest: Latest) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client with a timeout always builds");
    loop {
        match collect(&http, &settings).await {
            Ok(traces) => {
                let figures =
                    quality::measure(&traces, now_micros(), settings.window, settings.settle);
                *latest.write().unwrap_or_else(|e| e.into_inner()) = Some(figures);
            }
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

fn current(latest: &Latest) -> Answer<Quality> {
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
    let figures = current(&latest)?;
    Ok((
        [(
            CONTENT_TYPE.as_str(),
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        figures.prometheus(),
    ))
}

async fn figures(State(latest): State<Latest>) -> Answer<Json<Quality>> {
    current(&latest).map(Json)
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
