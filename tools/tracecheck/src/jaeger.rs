//! Jaeger's JSON query API model (`/api/traces`, `/api/services`, `/api/dependencies`, ...), as
//! serde types: the embedded viewer writes its answers with them and [`crate::Trace`] reads real
//! Jaeger's with them, so both sides agree on one definition.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every answer's envelope: `{"data", "total", "limit", "offset", "errors"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<T> {
    /// The answer; `null` with an error.
    pub data: Option<T>,
    /// Jaeger fills it for some lists and leaves it 0 for others.
    #[serde(default)]
    pub total: usize,
    /// Always 0 here.
    #[serde(default)]
    pub limit: usize,
    /// Always 0 here.
    #[serde(default)]
    pub offset: usize,
    /// What went wrong, or `null`.
    #[serde(default)]
    pub errors: Option<Vec<ResponseError>>,
}

impl<T> Response<T> {
    /// An answer carrying `data`.
    pub fn ok(data: T, total: usize) -> Self {
        Self {
            data: Some(data),
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }

    /// An error answer.
    pub fn error(code: u16, msg: impl Into<String>) -> Self {
        Self {
            data: None,
            total: 0,
            limit: 0,
            offset: 0,
            errors: Some(vec![ResponseError {
                code,
                msg: msg.into(),
            }]),
        }
    }
}

/// One error of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseError {
    /// The HTTP status.
    pub code: u16,
    /// What went wrong.
    pub msg: String,
}

/// One trace: its spans and the processes (one per service instance) they point at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// 32 hex digits.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Its spans.
    pub spans: Vec<Span>,
    /// Process id (`p1`, ...) to process.
    pub processes: BTreeMap<String, Process>,
    /// Always `null` here.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// 32 hex digits.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// 16 hex digits.
    #[serde(rename = "spanID")]
    pub span_id: String,
    /// The span name.
    #[serde(rename = "operationName")]
    pub operation_name: String,
    /// The parent (`CHILD_OF`) and links (`FOLLOWS_FROM`).
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Microseconds since the epoch.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    /// Attributes, plus `span.kind`, `otel.status_code`, `error` and `otel.scope.name`.
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    /// Events: an `event` field with the name, then the attributes.
    #[serde(default)]
    pub logs: Vec<Log>,
    /// Its process in the trace's `processes`.
    #[serde(rename = "processID")]
    pub process_id: String,
    /// Jaeger v1 wrote the sampling flags here; v2 leaves the field out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u32>,
    /// Always `null` here.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

impl Span {
    /// The value of the tag `key`, if the span has it.
    pub fn tag(&self, key: &str) -> Option<&serde_json::Value> {
        self.tags.iter().find(|t| t.key == key).map(|t| &t.value)
    }

    /// The parent's span id (the `CHILD_OF` reference).
    pub fn parent_id(&self) -> Option<&str> {
        self.references
            .iter()
            .find(|r| r.ref_type == "CHILD_OF")
            .map(|r| r.span_id.as_str())
    }
}

/// A reference from one span to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `CHILD_OF` or `FOLLOWS_FROM`.
    #[serde(rename = "refType")]
    pub ref_type: String,
    /// The other span's trace.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// The other span.
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// A typed tag: `type` is `string`, `bool`, `int64` or `float64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The attribute's name.
    pub key: String,
    /// Its type.
    #[serde(rename = "type")]
    pub value_type: String,
    /// Its value.
    pub value: serde_json::Value,
}

impl KeyValue {
    /// A tag of the type `value` has; arrays and maps become JSON strings, as Jaeger shows them.
    pub fn new(key: &str, value: &serde_json::Value) -> Self {
        use serde_json::Value;
        let (value_type, value) = match value {
            Value::Bool(_) => ("bool", value.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => ("int64", value.clone()),
            Value::Number(_) => ("float64", value.clone()),
            Value::String(_) => ("string", value.clone()),
            other => ("string", Value::from(other.to_string())),
        };
        Self {
            key: key.to_owned(),
            value_type: value_type.to_owned(),
            value,
        }
    }
}

/// An event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Log {
    /// Microseconds since the epoch.
    pub timestamp: u64,
    /// `event` (the name) and the attributes.
    pub fields: Vec<KeyValue>,
}

/// The service instance that recorded spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// `service.name`.
    #[serde(rename = "serviceName")]
    pub service_name: String,
    /// The other resource attributes.
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

/// Calls from one service to another (`/api/dependencies`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The calling service.
    pub parent: String,
    /// The called one.
    pub child: String,
    /// How many spans of `child` have a parent in `parent`.
    #[serde(rename = "callCount")]
    pub call_count: u64,
}

/// An operation of a service (`/api/operations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The span name.
    pub name: String,
    /// `server`, `client`, ... (empty when unset).
    #[serde(rename = "spanKind")]
    pub span_kind: String,
}
