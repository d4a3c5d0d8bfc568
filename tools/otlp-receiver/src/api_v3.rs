//! Jaeger's `/api/v3` query API, which current Jaeger UI releases search through: services,
//! operations, a trace by id and a search, traces as OTLP JSON (`{"result": {"resourceSpans":
//! ...}}`) written the way Jaeger 2.12 writes it — empty fields left out, 64-bit numbers as
//! strings.

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
        .route("/api/v3/traces", get(find_traces))
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
        return error(HttpStatus::NOT_FOUND, "trace not found".into());
    }
    Json(json!({ "result": { "resourceSpans": resource_spans(&spans) } })).into_response()
}

/// Jaeger's error body, `{"error": {"httpCode", "message"}}`.
fn error(status: HttpStatus, message: String) -> Response {
    let body = json!({ "error": { "httpCode": status.as_u16(), "message": message } });
    (status, Json(body)).into_response()
}

/// How many traces a search returns when `query.num_traces` is not given. Jaeger 2.12's
/// in-memory store answers such a search 500 ("search depth must be greater than 0"); later
/// releases default it, as the viewer does.
const DEFAULT_NUM_TRACES: usize = 20;

/// The parameters of `GET /api/v3/traces`, as Jaeger's HTTP gateway names them.
#[derive(Debug, Deserialize)]
struct FindQuery {
    #[serde(rename = "query.service_name")]
    service: Option<String>,
    #[serde(rename = "query.operation_name")]
    operation: Option<String>,
    #[serde(rename = "query.start_time_min")]
    start_min: Option<String>,
    #[serde(rename = "query.start_time_max")]
    start_max: Option<String>,
    #[serde(rename = "query.num_traces")]
    num_traces: Option<String>,
    #[serde(rename = "query.duration_min")]
    duration_min: Option<String>,
    #[serde(rename = "query.duration_max")]
    duration_max: Option<String>,
}

/// A span's conditions of a search: a trace matches when one of its spans meets them all (its
/// service, operation, start within the window and duration within the bounds), as in Jaeger's
/// in-memory store.
struct SpanMatch {
    service: String,
    operation: String,
    start: (u64, u64),
    duration: (u64, u64),
}

impl SpanMatch {
    fn new(query: &FindQuery) -> Result<(Self, usize), String> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (Some(min), Some(max)) = (given(&query.start_min), given(&query.start_max)) else {
            return Err("query.start_time_min and query.start_time_max are required".to_owned());
        };
        let time = |raw: &str, name: &str| {
            rfc3339_nanos(raw).ok_or_else(|| format!("malformed parameter {name}: {raw:?}"))
        };
        let duration = |raw: &Option<String>, name: &str, default: u64| match given(raw) {
            None => Ok(default),
            Some(raw) => crate::jaeger::parse_duration(&raw)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| format!("malformed parameter {name}: {e}")),
        };
        let num_traces = match given(&query.num_traces) {
            None => DEFAULT_NUM_TRACES,
            Some(raw) => raw
                .parse()
                .map_err(|_| format!("malformed parameter query.num_traces: {raw:?}"))?,
        };
        Ok((
            Self {
                service: given(&query.service).unwrap_or_default(),
                operation: given(&query.operation).unwrap_or_default(),
                start: (
                    time(&min, "query.start_time_min")?,
                    time(&max, "query.start_time_max")?,
                ),
                duration: (
                    duration(&query.duration_min, "query.duration_min", 0)?,
                    duration(&query.duration_max, "query.duration_max", u64::MAX)?,
                ),
            },
            num_traces,
        ))
    }

    fn matches(&self, span: &SpanRecord) -> bool {
        let duration = span.duration_nanos();
        (self.service.is_empty() || span.service_name == self.service)
            && (self.operation.is_empty() || span.name == self.operation)
            && (self.start.0..=self.start.1).contains(&span.start_time_unix_nano)
            && (self.duration.0..=self.duration.1).contains(&duration)
    }
}

/// `GET /api/v3/traces`: the newest `query.num_traces` traces with a matching span, all their
/// resources in one `resourceSpans` list (as Jaeger combines them); 404 when none match.
async fn find_traces(
    State(store): State<Arc<SpanStore>>,
    Query(query): Query<FindQuery>,
) -> Response {
    let (matcher, limit) = match SpanMatch::new(&query) {
        Ok(found) => found,
        Err(message) => return error(HttpStatus::BAD_REQUEST, message),
    };
    let found: Vec<Value> = store.with_traces(|traces| {
        traces
            .filter(|trace| trace.iter().any(|span| matcher.matches(span)))
            .take(limit)
            .flat_map(resource_spans)
            .collect()
    });
    if found.is_empty() {
        return error(HttpStatus::NOT_FOUND, "No traces found".into());
    }
    Json(json!({ "result": { "resourceSpans": found } })).into_response()
}

/// Nanoseconds since the epoch of an RFC 3339 time (`2026-12-07T10:00:00.5Z`, `...+01:00`) as
/// Go's `time.RFC3339Nano` reads it: fixed-width fields, a real calendar date, seconds up to 59,
/// a fraction of 1 to 9 digits. A time before 1970 reads as 0 (no span starts there).
fn rfc3339_nanos(raw: &str) -> Option<u64> {
    let digits = |text: &str, width: usize| -> Option<i64> {
        (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let (date, rest) = raw.split_once(['T', 't'])?;
    let mut parts = date.split('-');
    let (year, month, day) = (
        digits(parts.next()?, 4)?,
        digits(parts.next()?, 2)?,
        digits(parts.next()?, 2)?,
    );
    if parts.next().is_some() {
        return None;
    }
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let mut hms = hms.split(':');
    let (hour, minute, second) = (
        digits(hms.next()?, 2)?,
        digits(hms.next()?, 2)?,
        digits(hms.next()?, 2)?,
    );
    if hms.next().is_some() {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(fraction) if (1..=9).contains(&fraction.len()) => {
            digits(fraction, fraction.len())? * 10_i64.pow(9 - fraction.len() as u32)
        }
        Some(_) => return None,
    };
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let (h, m) = (digits(h, 2)?, digits(m, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = i128::from(days * 86_400 + hour * 3600 + minute * 60 + second - offset);
    let nanos = seconds * 1_000_000_000 + i128::from(nanos);
    Some(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_as_go_reads_them() {
        assert_eq!(rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_nanos("2026-12-07T10:00:00.5Z"),
            Some(1_796_637_600_500_000_000)
        );
        assert_eq!(
            rfc3339_nanos("2026-12-07T11:00:00+01:00"),
            rfc3339_nanos("2026-12-07T10:00:00Z")
        );
        for bad in [
            "2026-12-07",
            "2026-13-07T00:00:00Z",
            "2026-12-07T10:00:00",
            "yesterday",
            "2026-12-07T10:00:99Z",
            "2026-02-31T00:00:00Z",
            "2026-2-07T00:00:00Z",
            "2026-12-07T10:00:00.Z",
            "2026-12-07T10:00:00+24:00",
        ] {
            assert_eq!(rfc3339_nanos(bad), None, "{bad}");
        }
        assert_eq!(rfc3339_nanos("1969-12-31T23:59:59Z"), Some(0));
        assert!(rfc3339_nanos("2024-02-29T00:00:00Z").is_some());
    }
}
