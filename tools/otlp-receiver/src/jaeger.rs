//! Jaeger's HTTP query API over the span store, in Jaeger's own JSON shapes, so a client written
//! against it (the trace checker, Jaeger's UI conventions) works unchanged against a real Jaeger.

use crate::{SpanKind, SpanRecord, SpanStore, StatusCode};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode as HttpStatus,
    response::IntoResponse,
    routing::get,
};
use serde_json::{Map, Value, json};
use std::{collections::BTreeMap, sync::Arc};

/// `GET /api/traces/{traceID}` over `store`.
pub fn query_router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/traces/{trace_id}", get(get_trace))
        .with_state(store)
}

async fn get_trace(
    State(store): State<Arc<SpanStore>>,
    Path(trace_id): Path<String>,
) -> impl IntoResponse {
    let trace_id = trace_id.to_ascii_lowercase();
    let spans = store.trace(&trace_id);
    if spans.is_empty() {
        let body = json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{ "code": 404, "msg": "trace not found" }],
        });
        return (HttpStatus::NOT_FOUND, Json(body));
    }
    let body = json!({
        "data": [to_jaeger_trace(&trace_id, &spans)],
        "total": 0, "limit": 0, "offset": 0, "errors": null,
    });
    (HttpStatus::OK, Json(body))
}

/// One trace in Jaeger's JSON model: spans with `references`, microsecond times, typed `tags`,
/// `logs` for events, and one process per service instance.
pub fn to_jaeger_trace(trace_id: &str, spans: &[SpanRecord]) -> Value {
    let mut processes: BTreeMap<String, (String, Value)> = BTreeMap::new();
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
            let process = json!({ "serviceName": span.service_name, "tags": tags(&span.resource) });
            (next_id, process)
        });
        let references: Vec<Value> = span
            .parent_span_id
            .iter()
            .map(|parent| json!({ "refType": "CHILD_OF", "traceID": span.trace_id, "spanID": parent }))
            .collect();
        let mut span_tags = tags(&span.attributes);
        if let Some(kind) = kind_tag(span.kind) {
            span_tags.push(tag("span.kind", &Value::from(kind)));
        }
        if span.status == StatusCode::Error {
            span_tags.push(tag("otel.status_code", &Value::from("ERROR")));
            span_tags.push(tag("error", &Value::Bool(true)));
            if !span.status_message.is_empty() {
                span_tags.push(tag(
                    "otel.status_description",
                    &Value::from(span.status_message.as_str()),
                ));
            }
        }
        let logs: Vec<Value> = span
            .events
            .iter()
            .map(|event| {
                let mut fields = vec![tag("event", &Value::from(event.name.as_str()))];
                fields.extend(tags(&event.attributes));
                json!({ "timestamp": event.time_unix_nano / 1_000, "fields": fields })
            })
            .collect();
        jaeger_spans.push(json!({
            "traceID": span.trace_id,
            "spanID": span.span_id,
            "operationName": span.name,
            "references": references,
            "startTime": span.start_time_unix_nano / 1_000,
            "duration": span.duration_nanos() / 1_000,
            "tags": span_tags,
            "logs": logs,
            "processID": process_id,
            "warnings": null,
            "flags": 1,
        }));
    }
    let processes: Map<String, Value> = processes.into_values().collect();
    json!({ "traceID": trace_id, "spans": jaeger_spans, "processes": processes, "warnings": null })
}

fn kind_tag(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => Some("internal"),
        SpanKind::Unspecified => None,
    }
}

fn tags(attributes: &Map<String, Value>) -> Vec<Value> {
    attributes
        .iter()
        .map(|(key, value)| tag(key, value))
        .collect()
}

/// One typed Jaeger tag (`string`, `bool`, `int64`, `float64`); arrays and maps as JSON strings.
fn tag(key: &str, value: &Value) -> Value {
    match value {
        Value::Bool(b) => json!({ "key": key, "type": "bool", "value": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            json!({ "key": key, "type": "int64", "value": n })
        }
        Value::Number(n) => json!({ "key": key, "type": "float64", "value": n }),
        Value::String(s) => json!({ "key": key, "type": "string", "value": s }),
        other => json!({ "key": key, "type": "string", "value": other.to_string() }),
    }
}
