//! Trace quality, live, over the store: `GET /api/quality` (tracecheck's figures as JSON: the
//! share of settled traces complete per root operation, every gap by its hop) and
//! `GET /api/quality/traces` (the settled incomplete traces with their gaps, which the UI marks
//! in search results). Both take `window` and `settle` as durations (`15m`, `30s`; defaults
//! [`DEFAULT_WINDOW`] and [`DEFAULT_SETTLE`]).

use crate::{SpanStore, checked_trace, jaeger};
use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    routing::get,
};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use tracecheck::{
    Gap,
    quality::{self, DEFAULT_SETTLE, DEFAULT_WINDOW, Quality, Standing},
};

/// `/api/quality` and `/api/quality/traces` over `store`.
pub(crate) fn router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/quality", get(get_quality))
        .route("/api/quality/traces", get(incomplete_traces))
        .with_state(store)
}

/// The parameters of both endpoints.
#[derive(Debug, Deserialize)]
struct QualityQuery {
    window: Option<String>,
    settle: Option<String>,
}

impl QualityQuery {
    fn durations(&self) -> Result<(Duration, Duration), (StatusCode, String)> {
        let parse = |raw: &Option<String>, default| match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(raw) => jaeger::parse_duration(raw).map_err(|e| (StatusCode::BAD_REQUEST, e)),
        };
        Ok((
            parse(&self.window, DEFAULT_WINDOW)?,
            parse(&self.settle, DEFAULT_SETTLE)?,
        ))
    }
}

/// The store's traces as tracecheck reads them.
fn traces(store: &SpanStore) -> Vec<tracecheck::Trace> {
    store.with_traces(|traces| traces.map(checked_trace).collect())
}

async fn get_quality(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<QualityQuery>,
) -> Result<Json<Quality>, (StatusCode, String)> {
    let (window, settle) = query.durations()?;
    let traces = traces(&store);
    Ok(Json(quality::measure(
        &traces,
        jaeger::now_micros(),
        window,
        settle,
    )))
}

/// One settled trace that is not complete.
#[derive(Debug, Serialize)]
struct Incomplete {
    #[serde(rename = "traceID")]
    trace_id: String,
    /// Its gaps, by hop.
    gaps: Vec<String>,
}

async fn incomplete_traces(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<QualityQuery>,
) -> Result<Json<Vec<Incomplete>>, (StatusCode, String)> {
    let (window, settle) = query.durations()?;
    let now = jaeger::now_micros();
    let incomplete = traces(&store)
        .into_iter()
        .filter(|trace| quality::standing(trace, now, window, settle) == Standing::Settled)
        .filter_map(|trace| {
            let gaps: Vec<String> = trace.gaps().iter().map(Gap::hop).collect();
            (!gaps.is_empty()).then_some(Incomplete {
                trace_id: trace.trace_id,
                gaps,
            })
        })
        .collect();
    Ok(Json(incomplete))
}
