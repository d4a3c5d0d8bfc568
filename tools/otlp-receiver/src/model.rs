//! Flat, owned span records decoded from OTLP protobufs.

use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest,
    common::v1::{AnyValue, KeyValue, any_value::Value as Any},
    trace::v1::{span, status},
};
use prost::Message;
use serde::Serialize;
use serde_json::{Map, Value};

/// The kind of a span, as OTLP defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpanKind {
    /// Not set by the producer.
    Unspecified,
    /// An operation inside a process.
    Internal,
    /// The handling of a remote request.
    Server,
    /// A request to a remote service.
    Client,
    /// The sending of a message.
    Producer,
    /// The processing of a message.
    Consumer,
}

/// A span's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusCode {
    /// No status set.
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error,
}

/// A timestamped event on a span (`exception`, `payment_declined`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    /// The event name.
    pub name: String,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Map<String, Value>,
}

/// A link from a span to another span (possibly of another trace).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkRecord {
    /// The linked span's trace.
    pub trace_id: String,
    /// The linked span.
    pub span_id: String,
    /// The link's attributes.
    pub attributes: Map<String, Value>,
}

/// One received span with its resource's service name and attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's span id, `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The span name (`GET /api/users/{id}`).
    pub name: String,
    /// SERVER, CLIENT, ...
    pub kind: SpanKind,
    /// `service.name` of the resource that produced the span.
    pub service_name: String,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: Map<String, Value>,
    /// Span events.
    pub events: Vec<EventRecord>,
    /// Links to other spans.
    pub links: Vec<LinkRecord>,
    /// Status code.
    pub status: StatusCode,
    /// Status description (any status may carry one; set with `Error` by this project).
    pub status_message: String,
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Instrumentation scope version (empty when not given).
    pub scope_version: String,
    /// The span's W3C `tracestate` (empty when it had none).
    pub trace_state: String,
    /// OTLP's span flags: the W3C trace flags, and whether the parent was remote.
    pub flags: u32,
}

impl SpanRecord {
    /// An internal span `op` of `svc` with nothing else set, for unit tests to adjust.
    #[cfg(test)]
    pub(crate) fn for_tests(trace_id: &str, span_id: &str) -> Self {
        Self {
            trace_id: trace_id.into(),
            span_id: span_id.into(),
            parent_span_id: None,
            name: "op".into(),
            kind: SpanKind::Internal,
            service_name: "svc".into(),
            start_time_unix_nano: 0,
            end_time_unix_nano: 0,
            attributes: Default::default(),
            events: vec![],
            links: vec![],
            status: StatusCode::Unset,
            status_message: String::new(),
            resource: Default::default(),
            scope: String::new(),
            scope_version: String::new(),
            trace_state: String::new(),
            flags: 0,
        }
    }

    /// An attribute's value.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    /// A string attribute's value.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }

    /// The first event called `name`.
    pub fn event(&self, name: &str) -> Option<&EventRecord> {
        self.events.iter().find(|event| event.name == name)
    }

    /// Duration in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }
}

/// Decodes an OTLP/HTTP protobuf body into span records.
pub fn decode_export_request(body: &[u8]) -> Result<Vec<SpanRecord>, prost::DecodeError> {
    Ok(records(ExportTraceServiceRequest::decode(body)?))
}

/// Decodes an OTLP/HTTP JSON body (the protobuf JSON mapping: camelCase, hex ids) into span records.
pub fn decode_export_request_json(body: &[u8]) -> Result<Vec<SpanRecord>, serde_json::Error> {
    Ok(records(serde_json::from_slice(body)?))
}

pub(crate) fn records(request: ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut records = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(r.attributes))
            .unwrap_or_default();
        let service_name = resource
            .get("service.name")
            .and_then(Value::as_str)
            // What Jaeger's OTLP receiver names a resource without one.
            .unwrap_or(MISSING_SERVICE_NAME)
            .to_owned();
        for scope_spans in resource_spans.scope_spans {
            let (scope, scope_version) = scope_spans
                .scope
                .map(|s| (s.name, s.version))
                .unwrap_or_default();
            for span in scope_spans.spans {
                let status = span.status.unwrap_or_default();
                records.push(SpanRecord {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: (!span.parent_span_id.is_empty())
                        .then(|| hex(&span.parent_span_id)),
                    name: span.name,
                    kind: kind(span.kind),
                    service_name: service_name.clone(),
                    start_time_unix_nano: span.start_time_unix_nano,
                    end_time_unix_nano: span.end_time_unix_nano,
                    attributes: attributes(span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|event| EventRecord {
                            name: event.name,
                            time_unix_nano: event.time_unix_nano,
                            attributes: attributes(event.attributes),
                        })
                        .collect(),
                    links: span
                        .links
                        .into_iter()
                        .map(|link| LinkRecord {
                            trace_id: hex(&link.trace_id),
                            span_id: hex(&link.span_id),
                            attributes: attributes(link.attributes),
                        })
                        .collect(),
                    status: match status::StatusCode::try_from(status.code) {
                        Ok(status::StatusCode::Ok) => StatusCode::Ok,
                        Ok(status::StatusCode::Error) => StatusCode::Error,
                        _ => StatusCode::Unset,
                    },
                    status_message: status.message,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    scope_version: scope_version.clone(),
                    trace_state: span.trace_state,
                    flags: span.flags,
                });
            }
        }
    }
    records
}

fn kind(raw: i32) -> SpanKind {
    match span::SpanKind::try_from(raw) {
        Ok(span::SpanKind::Internal) => SpanKind::Internal,
        Ok(span::SpanKind::Server) => SpanKind::Server,
        Ok(span::SpanKind::Client) => SpanKind::Client,
        Ok(span::SpanKind::Producer) => SpanKind::Producer,
        Ok(span::SpanKind::Consumer) => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn attributes(kvs: Vec<KeyValue>) -> Map<String, Value> {
    kvs.into_iter()
        .map(|kv| (kv.key, kv.value.map(any_value).unwrap_or(Value::Null)))
        .collect()
}

fn any_value(value: AnyValue) -> Value {
    match value.value {
        Some(Any::StringValue(s)) => Value::String(s),
        Some(Any::BoolValue(b)) => Value::Bool(b),
        Some(Any::IntValue(i)) => Value::from(i),
        Some(Any::DoubleValue(d)) => Value::from(d),
        Some(Any::ArrayValue(array)) => {
            Value::Array(array.values.into_iter().map(any_value).collect())
        }
        Some(Any::KvlistValue(list)) => Value::Object(attributes(list.values)),
        Some(Any::BytesValue(bytes)) => bytes_value(&bytes),
        _ => Value::Null,
    }
}

/// The service name of spans whose resource has no `service.name`, as Jaeger shows them.
pub(crate) const MISSING_SERVICE_NAME: &str = "missing-service-name";

/// A bytes attribute as the OTLP JSON mapping writes it, `{"bytesValue": "<base64>"}`, so that
/// it stays apart from a string (Jaeger shows it as a `binary` tag).
fn bytes_value(bytes: &[u8]) -> Value {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    serde_json::json!({ "bytesValue": encoded })
}

/// The base64 of a bytes attribute ([`bytes_value`]'s form), if `value` is one.
pub(crate) fn as_bytes_value(value: &Value) -> Option<&str> {
    let object = value.as_object().filter(|object| object.len() == 1)?;
    object.get("bytesValue")?.as_str()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::{
        common::v1::InstrumentationScope,
        resource::v1::Resource,
        trace::v1::{ResourceSpans, ScopeSpans, Span, Status},
    };

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_ids_kind_status_attributes_and_resource() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", Any::StringValue("gateway".into()))],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "test".into(),
                        ..Default::default()
                    }),
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        parent_span_id: vec![],
                        name: "GET /".into(),
                        kind: span::SpanKind::Server as i32,
                        attributes: vec![
                            kv("http.response.status_code", Any::IntValue(502)),
                            kv("ok", Any::BoolValue(false)),
                        ],
                        status: Some(Status {
                            code: status::StatusCode::Error as i32,
                            message: "boom".into(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let spans = decode_export_request(&request.encode_to_vec()).unwrap();
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.trace_id, "ab".repeat(16));
        assert_eq!(span.span_id, "0101010101010101");
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.service_name, "gateway");
        assert_eq!(
            span.attr("http.response.status_code"),
            Some(&Value::from(502))
        );
        assert_eq!(span.attr("ok"), Some(&Value::Bool(false)));
        assert_eq!(
            (span.status, span.status_message.as_str()),
            (StatusCode::Error, "boom")
        );
        assert_eq!(span.scope, "test");
    }

    #[test]
    fn decodes_the_otlp_json_mapping() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cli"}}]},
            "scopeSpans":[{"scope":{"name":"curl"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"GET /","kind":2,
            "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
            "attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}}],
            "links":[{"traceId":"5b8efff798038103d269b633813fc60d","spanId":"eee19b7ec3c1b175"}],
            "status":{"code":2,"message":"boom"}}]}]}]}"#;
        let spans = decode_export_request_json(body).unwrap();
        let span = &spans[0];
        assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.parent_span_id.as_deref(), Some("eee19b7ec3c1b173"));
        assert_eq!(
            (span.kind, span.service_name.as_str()),
            (SpanKind::Server, "cli")
        );
        assert_eq!(span.duration_nanos(), 1_000_000_000);
        assert_eq!(
            span.attr("http.response.status_code"),
            Some(&Value::from(200))
        );
        assert_eq!(span.links[0].span_id, "eee19b7ec3c1b175");
        assert_eq!(span.status, StatusCode::Error);
    }

    #[test]
    fn rejects_bodies_that_are_not_protobuf() {
        assert!(decode_export_request(b"{\"resourceSpans\": []}").is_err());
    }
}
