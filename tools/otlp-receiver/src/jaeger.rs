//! Jaeger's HTTP query API over the span store, in Jaeger's own JSON shapes, so a client written
//! against it (the trace checker, Jaeger's UI conventions) works unchanged against a real Jaeger.

use crate::{SpanKind, SpanRecord, SpanStore, StatusCode};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode as HttpStatus,
    response::IntoResponse,
    routing::get,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracecheck::jaeger::{self as model, KeyValue, Response};

/// Jaeger's query API over `store`: `/api/services`, `/api/services/{service}/operations`,
/// `/api/operations?service=&spanKind=`, `/api/traces` (search), `/api/traces/{traceID}` and
/// `/api/dependencies`, and `/api/v3`'s services, operations and trace by id, answering as
/// Jaeger v2 does (checked against the real one in the tests).
pub fn query_router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/services", get(get_services))
        .route("/api/services/{service}/operations", get(get_operations))
        .route("/api/operations", get(get_typed_operations))
        .route("/api/traces", get(search_traces))
        .route("/api/traces/{trace_id}", get(get_trace))
        .route("/api/dependencies", get(get_dependencies))
        .with_state(store.clone())
        .merge(crate::api_v3::router(store.clone()))
        .merge(crate::quality::router(store.clone()))
        .merge(crate::metrics::router(store))
}

/// Jaeger's envelope: `{data, total, limit, offset, errors}`.
fn envelope<T: Serialize>(data: T, total: usize) -> Json<Response<T>> {
    Json(Response::ok(data, total))
}

type BadRequest = (HttpStatus, Json<Response<()>>);

fn bad_request(message: String) -> BadRequest {
    (HttpStatus::BAD_REQUEST, Json(Response::error(400, message)))
}

/// The services that sent spans, for `/api/services` and `/api/v3/services`.
pub(crate) fn service_names(store: &SpanStore) -> BTreeSet<String> {
    store.with_traces(|traces| traces.flatten().map(|s| s.service_name.clone()).collect())
}

/// `service`'s operations with their span kinds (`""` when unset), those of `kind` only when one
/// is given: for `/api/operations` and `/api/v3/operations`.
pub(crate) fn typed_operations(
    store: &SpanStore,
    service: &str,
    kind: Option<&str>,
) -> BTreeSet<(String, &'static str)> {
    store.with_traces(|traces| {
        traces
            .flatten()
            .filter(|s| s.service_name == service)
            .map(|s| (s.name.clone(), kind_tag(s.kind).unwrap_or("")))
            .filter(|(_, span_kind)| kind.is_none_or(|k| k == *span_kind))
            .collect()
    })
}

async fn get_services(State(store): State<Arc<SpanStore>>) -> Json<Response<BTreeSet<String>>> {
    let services = service_names(&store);
    let total = services.len();
    envelope(services, total)
}

async fn get_operations(
    State(store): State<Arc<SpanStore>>,
    Path(service): Path<String>,
) -> Json<Response<BTreeSet<String>>> {
    let operations: BTreeSet<String> = store.with_traces(|traces| {
        traces
            .flatten()
            .filter(|s| s.service_name == service)
            .map(|s| s.name.clone())
            .collect()
    });
    let total = operations.len();
    envelope(operations, total)
}

/// The parameters of `GET /api/operations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OperationsQuery {
    service: String,
    span_kind: Option<String>,
}

/// A service's operations with their span kinds (`[{name, spanKind}]`), optionally of one kind.
async fn get_typed_operations(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<OperationsQuery>,
) -> Json<Response<Vec<model::Operation>>> {
    let operations = typed_operations(&store, &query.service, query.span_kind.as_deref());
    let data: Vec<model::Operation> = operations
        .into_iter()
        .map(|(name, kind)| model::Operation {
            name,
            span_kind: kind.to_owned(),
        })
        .collect();
    let total = data.len();
    envelope(data, total)
}

/// The search parameters of `GET /api/traces`, as Jaeger's UI sends them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TraceQuery {
    service: Option<String>,
    operation: Option<String>,
    /// JSON object of tag → value, e.g. `{"error":"true","http.route":"/api/orders"}`.
    tags: Option<String>,
    min_duration: Option<String>,
    max_duration: Option<String>,
    /// `1h`, `2d`, ... or `custom` (then `start`/`end` apply).
    lookback: Option<String>,
    /// Microseconds since the epoch.
    start: Option<u64>,
    /// Microseconds since the epoch.
    end: Option<u64>,
    limit: Option<usize>,
}

async fn search_traces(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<TraceQuery>,
) -> Result<Json<Response<Vec<model::Trace>>>, BadRequest> {
    let filter = TraceFilter::new(&query, now_micros()).map_err(bad_request)?;
    let limit = query.limit.filter(|l| *l > 0).unwrap_or(20);
    let traces: Vec<model::Trace> = store.with_traces(|traces| {
        traces
            .filter(|trace| filter.matches(trace))
            .take(limit)
            .map(|trace| to_jaeger_trace(&trace[0].trace_id, trace))
            .collect()
    });
    // Jaeger v2 answers a search with `total` 0, whatever it found.
    Ok(envelope(traces, 0))
}

/// A parsed `/api/traces` query: a trace matches when one span satisfies every criterion.
struct TraceFilter {
    service: Option<String>,
    operation: Option<String>,
    tags: Vec<(String, String)>,
    min: Option<Duration>,
    max: Option<Duration>,
    /// The window on the trace's start, in microseconds.
    window: (u64, u64),
}

impl TraceFilter {
    fn new(query: &TraceQuery, now_us: u64) -> Result<Self, String> {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let tags = match non_empty(&query.tags) {
            None => Vec::new(),
            Some(raw) => serde_json::from_str::<Map<String, Value>>(&raw)
                .map_err(|e| format!("tags must be a JSON object: {e}"))?
                .into_iter()
                .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect(),
        };
        let duration =
            |v: &Option<String>| non_empty(v).map(|raw| parse_duration(&raw)).transpose();
        let window = match non_empty(&query.lookback).as_deref() {
            Some("custom") | None if query.start.is_some() || query.end.is_some() => {
                (query.start.unwrap_or(0), query.end.unwrap_or(u64::MAX))
            }
            None | Some("custom") => (0, u64::MAX),
            Some(lookback) => {
                let span = parse_duration(lookback)?.as_micros() as u64;
                (now_us.saturating_sub(span), u64::MAX)
            }
        };
        Ok(Self {
            service: non_empty(&query.service),
            operation: non_empty(&query.operation).filter(|op| op != "all"),
            tags,
            min: duration(&query.min_duration)?,
            max: duration(&query.max_duration)?,
            window,
        })
    }

    fn matches(&self, trace: &[SpanRecord]) -> bool {
        let start_us = trace
            .iter()
            .map(|s| s.start_time_unix_nano / 1_000)
            .min()
            .unwrap_or(0);
        if start_us < self.window.0 || start_us > self.window.1 {
            return false;
        }
        trace.iter().any(|span| self.span_matches(span))
    }

    fn span_matches(&self, span: &SpanRecord) -> bool {
        let duration = Duration::from_nanos(span.duration_nanos());
        self.service
            .as_ref()
            .is_none_or(|s| &span.service_name == s)
            && self.operation.as_ref().is_none_or(|op| &span.name == op)
            && self.min.is_none_or(|min| duration >= min)
            && self.max.is_none_or(|max| duration <= max)
            && self
                .tags
                .iter()
                .all(|(key, want)| tag_value(span, key).as_deref() == Some(want.as_str()))
    }
}

/// A span's tag as Jaeger shows it: attributes, `span.kind`, `error` and `otel.status_code`.
/// Deliberately more than Jaeger 2.12's in-memory store, which matches attributes only (its
/// search finds nothing for `error=true`); the viewer finds failed spans by their status.
fn tag_value(span: &SpanRecord, key: &str) -> Option<String> {
    match key {
        "error" => (span.status == StatusCode::Error).then(|| "true".to_owned()),
        "otel.status_code" => status_tag(span.status).map(str::to_owned),
        "span.kind" => kind_tag(span.kind).map(str::to_owned),
        _ => span
            .attr(key)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
    }
}

/// Jaeger's duration strings: `500us`, `100ms`, `1.5s`, `2m`, `1h`, `2d`.
pub(crate) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {raw:?}"))?;
    let seconds = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("invalid duration unit in {raw:?}")),
    };
    Duration::try_from_secs_f64(value * seconds).map_err(|_| format!("invalid duration {raw:?}"))
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u64
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DependencyQuery {
    /// Milliseconds since the epoch (default now).
    end_ts: Option<u64>,
    /// Milliseconds (default 24 h).
    lookback: Option<u64>,
}

/// Call counts between services: one per span with a parent, counted for the parent's service
/// and the span's (a span whose parent is in its own service counts as a call to itself, as in
/// Jaeger). Like Jaeger, the envelope's `total` is 0.
async fn get_dependencies(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<DependencyQuery>,
) -> Json<Response<Vec<model::Dependency>>> {
    let end_us = query.end_ts.map_or_else(now_micros, |ms| ms * 1_000);
    let start_us = end_us.saturating_sub(query.lookback.unwrap_or(86_400_000) * 1_000);
    let mut calls: BTreeMap<(String, String), u64> = BTreeMap::new();
    store.with_traces(|traces| {
        for trace in traces {
            let services: HashMap<&str, &str> = trace
                .iter()
                .map(|s| (s.span_id.as_str(), s.service_name.as_str()))
                .collect();
            for span in trace {
                let start = span.start_time_unix_nano / 1_000;
                if start < start_us || start > end_us {
                    continue;
                }
                let parent = span.parent_span_id.as_deref().and_then(|p| services.get(p));
                if let Some(parent) = parent {
                    *calls
                        .entry(((*parent).to_owned(), span.service_name.clone()))
                        .or_default() += 1;
                }
            }
        }
    });
    let data: Vec<model::Dependency> = calls
        .into_iter()
        .map(|((parent, child), call_count)| model::Dependency {
            parent,
            child,
            call_count,
        })
        .collect();
    envelope(data, 0)
}

async fn get_trace(
    State(store): State<Arc<SpanStore>>,
    Path(trace_id): Path<String>,
) -> impl IntoResponse {
    let trace_id = trace_id.to_ascii_lowercase();
    let spans = store.trace(&trace_id);
    if spans.is_empty() {
        return (
            HttpStatus::NOT_FOUND,
            Json(Response::error(404, "trace not found")),
        );
    }
    (
        HttpStatus::OK,
        Json(Response::ok(vec![to_jaeger_trace(&trace_id, &spans)], 0)),
    )
}

/// One trace in Jaeger's JSON model: spans with `references`, microsecond times, typed `tags`,
/// `logs` for events, and one process per service instance.
pub fn to_jaeger_trace(trace_id: &str, spans: &[SpanRecord]) -> model::Trace {
    let mut processes: BTreeMap<String, (String, model::Process)> = BTreeMap::new();
    let mut jaeger_spans = Vec::with_capacity(spans.len());
    for span in spans {
        let instance = span
            .resource
            .get("service.instance.id")
            .and_then(Value::as_str)
            .unwrap_or(&span.service_name)
            .to_owned();
        let next_id = format!("p{}", processes.len() + 1);
        let (process_id, _) = processes.entry(instance).or_insert_with(|| {
            // `service.name` is the process's serviceName, not one of its tags.
            let mut resource = span.resource.clone();
            resource.remove("service.name");
            let process = model::Process {
                service_name: span.service_name.clone(),
                tags: tags(&resource),
            };
            (next_id, process)
        });
        let reference = |ref_type: &str, trace_id: &str, span_id: &str| model::Reference {
            ref_type: ref_type.to_owned(),
            trace_id: trace_id.to_owned(),
            span_id: span_id.to_owned(),
        };
        let references: Vec<model::Reference> = span
            .parent_span_id
            .iter()
            .map(|parent| reference("CHILD_OF", &span.trace_id, parent))
            .chain(
                span.links
                    .iter()
                    .map(|link| reference("FOLLOWS_FROM", &link.trace_id, &link.span_id)),
            )
            .collect();
        let mut span_tags = tags(&span.attributes);
        // What Jaeger adds from the span's own fields, each only when it has a value. It keeps a
        // status description whatever the status (OTLP allows one on any).
        let status_code = status_tag(span.status).unwrap_or_default();
        let error = span.status == StatusCode::Error;
        let fields = [
            ("otel.scope.name", Value::from(span.scope.as_str())),
            (
                "otel.scope.version",
                Value::from(span.scope_version.as_str()),
            ),
            (
                "span.kind",
                Value::from(kind_tag(span.kind).unwrap_or_default()),
            ),
            ("otel.status_code", Value::from(status_code)),
            (
                "error",
                if error {
                    Value::Bool(true)
                } else {
                    Value::from("")
                },
            ),
            (
                "otel.status_description",
                Value::from(span.status_message.as_str()),
            ),
            ("w3c.tracestate", Value::from(span.trace_state.as_str())),
        ];
        for (key, value) in fields {
            if value.as_str() != Some("") {
                span_tags.push(KeyValue::new(key, &value));
            }
        }
        let logs: Vec<model::Log> = span
            .events
            .iter()
            .map(|event| {
                let mut fields = vec![KeyValue::new("event", &Value::from(event.name.as_str()))];
                fields.extend(tags(&event.attributes));
                model::Log {
                    timestamp: event.time_unix_nano / 1_000,
                    fields,
                }
            })
            .collect();
        jaeger_spans.push(model::Span {
            trace_id: span.trace_id.clone(),
            span_id: span.span_id.clone(),
            operation_name: span.name.clone(),
            references,
            start_time: span.start_time_unix_nano / 1_000,
            duration: span.duration_nanos() / 1_000,
            tags: span_tags,
            logs,
            process_id: process_id.clone(),
            flags: None,
            warnings: None,
        });
    }
    model::Trace {
        trace_id: trace_id.to_owned(),
        spans: jaeger_spans,
        processes: processes.into_values().collect(),
        warnings: None,
    }
}

/// A Jaeger query API answer in a form where two answers that say the same thing compare equal:
/// each span's `processID` replaced by its process (ids like `p1` are numbered by whoever
/// serialises the trace) and every array in a canonical order.
pub fn comparable(answer: &Value) -> Value {
    let mut answer = answer.clone();
    let traces = answer["data"].as_array_mut().into_iter().flatten();
    for trace in traces.filter_map(Value::as_object_mut) {
        let processes = trace.remove("processes").unwrap_or_default();
        let spans = trace.get_mut("spans").and_then(Value::as_array_mut);
        for span in spans.into_iter().flatten().filter_map(Value::as_object_mut) {
            let process = span
                .remove("processID")
                .and_then(|id| id.as_str().map(|id| processes[id].clone()));
            span.insert("process".into(), process.unwrap_or_default());
        }
    }
    canonical(&answer)
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(canonical).collect();
            items.sort_by_cached_key(Value::to_string);
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

pub(crate) fn kind_tag(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => Some("internal"),
        SpanKind::Unspecified => None,
    }
}

fn tags(attributes: &Map<String, Value>) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| match crate::model::as_bytes_value(value) {
            // Jaeger's `binary` tag: the bytes in base64.
            Some(base64) => KeyValue {
                key: key.clone(),
                value_type: "binary".to_owned(),
                value: Value::from(base64),
            },
            None => KeyValue::new(key, value),
        })
        .collect()
}

/// `otel.status_code` as Jaeger writes it: `OK` or `ERROR`, none for an unset status.
fn status_tag(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::Ok => Some("OK"),
        StatusCode::Error => Some("ERROR"),
        StatusCode::Unset => None,
    }
}

/// One trace's spans in the completeness checker's model ([`tracecheck::Trace`]): the one rule of
/// a complete trace, for the tests, the load tool and the smoke check alike.
pub fn checked_trace(spans: &[SpanRecord]) -> tracecheck::Trace {
    tracecheck::Trace {
        trace_id: spans
            .first()
            .map(|s| s.trace_id.clone())
            .unwrap_or_default(),
        spans: spans
            .iter()
            .map(|span| tracecheck::Span {
                span_id: span.span_id.clone(),
                parent_id: span.parent_span_id.clone(),
                service: span.service_name.clone(),
                operation: span.name.clone(),
                kind: kind_tag(span.kind).map(str::to_owned),
                start_us: span.start_time_unix_nano / 1_000,
                duration_us: span.duration_nanos() / 1_000,
                error: span.status == StatusCode::Error,
                http: span.attributes.contains_key("http.request.method"),
                peer: span.attr_str("peer.service").map(str::to_owned),
                duplicate: span.attributes.get("messaging.nats.duplicate")
                    == Some(&serde_json::Value::Bool(true)),
            })
            .collect(),
    }
}
