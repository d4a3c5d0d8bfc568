//! Jaeger's `/api/v3` query API, which current Jaeger UI releases search through: services,
//! operations and a trace by id, the trace as OTLP JSON (`{"result": {"resourceSpans": ...}}`)
//! written the way Jaeger 2.12 writes it — empty fields left out, 64-bit numbers as strings.

use crate::{
    SpanKind, SpanRecord, SpanStore, StatusCode,
    jaeger::{service_names, typed_operations},
    model::as_bytes_value,
};
use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode as HttpStatus,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The `/api/v3` routes over `store`.
pub(crate) fn router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces/{trace_id}", get(trace))
        .with_state(store)
}

async fn services(State(store): State<Arc<SpanStore>>) -> Json<Value> {
    Json(json!({ "services": service_names(&store) }))
}

/// The parameters of `GET /api/v3/operations`.
#[derive(Debug, Deserialize)]
struct OperationsQuery {
    service: String,
    span_kind: Option<String>,
}

async fn operations(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<OperationsQuery>,
) -> Json<Value> {
    let operations = typed_operations(&store, &query.service, query.span_kind.as_deref());
    let operations: Vec<Value> = operations
        .into_iter()
        .map(|(name, kind)| json!({ "name": name, "spanKind": kind }))
        .collect();
    Json(json!({ "operations": operations }))
}

async fn trace(State(store): State<Arc<SpanStore>>, Path(trace_id): Path<String>) -> Response {
    let spans = store.trace(&trace_id.to_ascii_lowercase());
    if spans.is_empty() {
        let error = json!({ "error": { "httpCode": 404, "message": "trace not found" } });
        return (HttpStatus::NOT_FOUND, Json(error)).into_response();
    }
    Json(json!({ "result": { "resourceSpans": resource_spans(&spans) } })).into_response()
}

/// One instrumentation scope's spans: its name, its version and the spans as OTLP JSON.
type Scope = (String, String, Vec<Value>);

/// `spans` grouped by resource, then by scope, as OTLP's `resourceSpans`.
fn resource_spans(spans: &[SpanRecord]) -> Vec<Value> {
    let mut resources: Vec<(Map<String, Value>, Vec<Scope>)> = Vec::new();
    for span in spans {
        // The resource as stored, with the service name it is shown under (Jaeger adds
        // `service.name` where the resource had none).
        let mut resource = span.resource.clone();
        resource
            .entry("service.name")
            .or_insert_with(|| Value::from(span.service_name.as_str()));
        let index = match resources.iter().position(|(r, _)| *r == resource) {
            Some(index) => index,
            None => {
                resources.push((resource, Vec::new()));
                resources.len() - 1
            }
        };
        let scopes = &mut resources[index].1;
        let scope = match scopes
            .iter()
            .position(|(name, version, _)| *name == span.scope && *version == span.scope_version)
        {
            Some(scope) => scope,
            None => {
                scopes.push((span.scope.clone(), span.scope_version.clone(), Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[scope].2.push(otlp_span(span));
    }
    resources
        .into_iter()
        .map(|(resource, scopes)| {
            let scope_spans: Vec<Value> = scopes
                .into_iter()
                .map(|(name, version, spans)| {
                    let mut scope = Map::new();
                    insert_str(&mut scope, "name", &name);
                    insert_str(&mut scope, "version", &version);
                    json!({ "scope": scope, "spans": spans })
                })
                .collect();
            json!({
                "resource": { "attributes": attributes(&resource) },
                "scopeSpans": scope_spans,
            })
        })
        .collect()
}

fn otlp_span(span: &SpanRecord) -> Value {
    let mut out = Map::new();
    insert_str(&mut out, "traceId", &span.trace_id);
    insert_str(&mut out, "spanId", &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        insert_str(&mut out, "parentSpanId", parent);
    }
    insert_str(&mut out, "traceState", &span.trace_state);
    if span.flags != 0 {
        out.insert("flags".into(), Value::from(span.flags));
    }
    insert_str(&mut out, "name", &span.name);
    if let Some(kind) = kind_number(span.kind) {
        out.insert("kind".into(), Value::from(kind));
    }
    out.insert(
        "startTimeUnixNano".into(),
        Value::from(span.start_time_unix_nano.to_string()),
    );
    out.insert(
        "endTimeUnixNano".into(),
        Value::from(span.end_time_unix_nano.to_string()),
    );
    insert_list(&mut out, "attributes", attributes(&span.attributes));
    let events = span
        .events
        .iter()
        .map(|event| {
            let mut out = Map::new();
            out.insert(
                "timeUnixNano".into(),
                Value::from(event.time_unix_nano.to_string()),
            );
            insert_str(&mut out, "name", &event.name);
            insert_list(&mut out, "attributes", attributes(&event.attributes));
            Value::Object(out)
        })
        .collect();
    insert_list(&mut out, "events", events);
    let links = span
        .links
        .iter()
        .map(|link| {
            let mut out = Map::new();
            insert_str(&mut out, "traceId", &link.trace_id);
            insert_str(&mut out, "spanId", &link.span_id);
            insert_list(&mut out, "attributes", attributes(&link.attributes));
            Value::Object(out)
        })
        .collect();
    insert_list(&mut out, "links", links);
    let mut status = Map::new();
    match span.status {
        StatusCode::Unset => {}
        StatusCode::Ok => {
            status.insert("code".into(), Value::from(1));
        }
        StatusCode::Error => {
            status.insert("code".into(), Value::from(2));
        }
    }
    insert_str(&mut status, "message", &span.status_message);
    out.insert("status".into(), Value::Object(status));
    Value::Object(out)
}

/// Attributes as OTLP's `[{key, value: {stringValue | intValue | ...}}]`.
fn attributes(attributes: &Map<String, Value>) -> Vec<Value> {
    attributes
        .iter()
        .map(|(key, value)| json!({ "key": key, "value": any_value(value) }))
        .collect()
}

fn any_value(value: &Value) -> Value {
    if let Some(base64) = as_bytes_value(value) {
        return json!({ "bytesValue": base64 });
    }
    match value {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        Value::Array(items) => {
            let values: Vec<Value> = items.iter().map(any_value).collect();
            json!({ "arrayValue": { "values": values } })
        }
        Value::Object(map) => json!({ "kvlistValue": { "values": attributes(map) } }),
        Value::Null => json!({}),
    }
}

fn insert_str(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.into(), Value::from(value));
    }
}

fn insert_list(out: &mut Map<String, Value>, key: &str, values: Vec<Value>) {
    if !values.is_empty() {
        out.insert(key.into(), Value::Array(values));
    }
}

/// OTLP's span kind number; none for an unspecified kind.
fn kind_number(kind: SpanKind) -> Option<i64> {
    match kind {
        SpanKind::Unspecified => None,
        SpanKind::Internal => Some(1),
        SpanKind::Server => Some(2),
        SpanKind::Client => Some(3),
        SpanKind::Producer => Some(4),
        SpanKind::Consumer => Some(5),
    }
}
