//! Telemetry settings read once from the environment, using the OpenTelemetry spec's variable names.
//!
//! Everything is read through a lookup function so tests can supply their own environment
//! (edition 2024 makes `std::env::set_var` unsafe, and the workspace forbids `unsafe`).

use crate::server::EdgeTrust;
use opentelemetry::KeyValue;
use std::collections::HashMap;

/// What `init` needs from the environment, resolved and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else the name the service passes in.
    pub service_name: String,
    /// `service.namespace` from `SERVICE_NAMESPACE` (default `default`).
    pub service_namespace: String,
    /// `deployment.environment.name` from `ENVIRONMENT` (default `development`).
    pub environment: String,
    /// Extra resource attributes from `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, percent-decoded).
    pub resource_attributes: Vec<KeyValue>,
    /// The sampler `OTEL_TRACES_SAMPLER` names (default `parentbased_traceidratio`).
    pub sampler: SamplerKind,
    /// Root-span sampling ratio from `OTEL_TRACES_SAMPLER_ARG` or `OTEL_SAMPLE_RATIO` (default 1.0).
    pub sample_ratio: f64,
    /// `x-api-key` header for the exporter, from `OTEL_API_KEY` (never logged).
    pub api_key: Option<String>,
    /// `OTEL_SDK_DISABLED=true`: no spans are recorded, exported or propagated; logs stay.
    /// Only `true` (any case) disables, as the specification says.
    pub sdk_disabled: bool,
    /// The longest attribute value exported, in characters:
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// [`crate::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT`].
    pub attribute_value_length_limit: usize,
    /// Whose trace context the public edge continues: `TRACE_CONTEXT_TRUSTED_CALLERS` (`*`, or
    /// caller IP addresses separated by commas); by default everyone, and no one when
    /// `ENVIRONMENT=production`.
    pub trusted_trace_callers: crate::server::EdgeTrust,
    /// Values that were ignored, and why; `init` logs them once logging is up.
    pub warnings: Vec<String>,
}

/// The samplers of the specification's `OTEL_TRACES_SAMPLER` that this workspace builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// `always_on`: every span, whatever the parent says.
    AlwaysOn,
    /// `always_off`: no span.
    AlwaysOff,
    /// `traceidratio`: the trace-id ratio for every span, whatever the parent says.
    TraceIdRatio,
    /// `parentbased_always_on`: follow the parent; sample every root.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent; sample no root.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent; sample roots by trace-id ratio.
    ParentBasedTraceIdRatio,
}

impl SamplerKind {
    /// Parses a value of `OTEL_TRACES_SAMPLER`.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::TraceIdRatio,
            "parentbased_always_on" => Self::ParentBasedAlwaysOn,
            "parentbased_always_off" => Self::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Self::ParentBasedTraceIdRatio,
            _ => return None,
        })
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env(default_service_name: &str) -> Self {
        Self::from_lookup(default_service_name, |key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, which returns a variable's value or `None`.
    pub fn from_lookup(
        default_service_name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let resource_attributes = get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|raw| parse_resource_attributes(&raw))
            .unwrap_or_default();
        let from_attributes = resource_attributes
            .iter()
            .find(|kv| kv.key.as_str() == "service.name")
            .map(|kv| kv.value.to_string());
        let environment = get("ENVIRONMENT").unwrap_or_else(|| "development".to_owned());
        let mut warnings = Vec::new();
        let sampler = match get("OTEL_TRACES_SAMPLER") {
            None => SamplerKind::ParentBasedTraceIdRatio,
            Some(raw) => SamplerKind::parse(&raw.to_ascii_lowercase()).unwrap_or_else(|| {
                warnings.push(format!(
                    "OTEL_TRACES_SAMPLER={raw} is not a sampler this service builds; using parentbased_traceidratio"
                ));
                SamplerKind::ParentBasedTraceIdRatio
            }),
        };
        // The exporter speaks OTLP over HTTP with protobuf bodies; say so rather than ignore a
        // request for another protocol.
        for key in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            if let Some(protocol) = get(key).filter(|p| p != "http/protobuf") {
                warnings.push(format!(
                    "{key}={protocol} is not supported; spans are exported as http/protobuf"
                ));
            }
        }
        let sample_ratio = match get("OTEL_TRACES_SAMPLER_ARG").or_else(|| get("OTEL_SAMPLE_RATIO"))
        {
            None => 1.0,
            Some(raw) => raw
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .unwrap_or_else(|| {
                    warnings.push(format!(
                        "sampling ratio {raw} is not a number between 0 and 1; using 1.0"
                    ));
                    1.0
                }),
        };
        let attribute_value_length_limit = match get("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
            .or_else(|| get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"))
        {
            None => crate::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| {
                    warnings.push(format!(
                    "attribute value length limit {raw} is not a positive whole number; using {}",
                    crate::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT
                ));
                    crate::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT
                }),
        };
        let trusted_trace_callers = match get("TRACE_CONTEXT_TRUSTED_CALLERS") {
            None if environment == "production" => EdgeTrust::Callers(Vec::new()),
            None => EdgeTrust::All,
            Some(raw) if raw == "*" => EdgeTrust::All,
            Some(raw) => EdgeTrust::Callers(
                raw.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty())
                    .filter_map(|entry| match entry.parse() {
                        Ok(ip) => Some(ip),
                        Err(_) => {
                            warnings.push(format!(
                                "TRACE_CONTEXT_TRUSTED_CALLERS: {entry} is not an IP address; ignored"
                            ));
                            None
                        }
                    })
                    .collect(),
            ),
        };
        Settings {
            attribute_value_length_limit,
            trusted_trace_callers,
            service_name: get("OTEL_SERVICE_NAME")
                .or(from_attributes)
                .unwrap_or_else(|| default_service_name.to_owned()),
            service_namespace: get("SERVICE_NAMESPACE").unwrap_or_else(|| "default".to_owned()),
            environment,
            resource_attributes,
            sampler,
            sample_ratio,
            api_key: get("OTEL_API_KEY"),
            sdk_disabled: get("OTEL_SDK_DISABLED")
                .is_some_and(|raw| raw.eq_ignore_ascii_case("true")),
            warnings,
        }
    }

    /// Extra headers the exporter sends on top of `OTEL_EXPORTER_OTLP_HEADERS`.
    pub(crate) fn exporter_headers(&self) -> HashMap<String, String> {
        self.api_key
            .iter()
            .map(|key| ("x-api-key".to_owned(), key.clone()))
            .collect()
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: comma-separated `key=value` pairs whose values may be
/// percent-encoded (W3C Baggage octet rules). Malformed entries are skipped.
fn parse_resource_attributes(raw: &str) -> Vec<KeyValue> {
    raw.split(',')
        .filter_map(|entry| entry.split_once('='))
        .map(|(key, value)| (key.trim(), percent_decode(value.trim())))
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| KeyValue::new(key.to_owned(), value))
        .collect()
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup("order-service", |key| vars.get(key).cloned())
    }

    #[test]
    fn the_edge_trusts_everyone_outside_production_and_only_named_callers_in_it() {
        assert_eq!(settings(&[]).trusted_trace_callers, EdgeTrust::All);
        let production = [("ENVIRONMENT", "production")];
        assert_eq!(
            settings(&production).trusted_trace_callers,
            EdgeTrust::Callers(vec![])
        );
        let named = settings(&[
            ("ENVIRONMENT", "production"),
            (
                "TRACE_CONTEXT_TRUSTED_CALLERS",
                "10.0.0.7, ::1, lb.internal",
            ),
        ]);
        assert_eq!(
            named.trusted_trace_callers,
            EdgeTrust::Callers(vec!["10.0.0.7".parse().unwrap(), "::1".parse().unwrap()])
        );
        assert_eq!(named.warnings.len(), 1, "{:?}", named.warnings);
        let all = [
            ("ENVIRONMENT", "production"),
            ("TRACE_CONTEXT_TRUSTED_CALLERS", "*"),
        ];
        assert_eq!(settings(&all).trusted_trace_callers, EdgeTrust::All);
    }

    #[test]
    fn attribute_value_length_limit_reads_the_span_variable_then_the_general_one() {
        let default = crate::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
        assert_eq!(settings(&[]).attribute_value_length_limit, default);
        let general = [("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "256")];
        assert_eq!(settings(&general).attribute_value_length_limit, 256);
        let both = [
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "256"),
            ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ];
        assert_eq!(settings(&both).attribute_value_length_limit, 64);
        let bad = settings(&[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1")]);
        assert_eq!(bad.attribute_value_length_limit, default);
        assert_eq!(bad.warnings.len(), 1, "{:?}", bad.warnings);
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]);
        assert_eq!(s.service_name, "order-service");
        assert_eq!(s.service_namespace, "default");
        assert_eq!(s.environment, "development");
        assert_eq!(s.sample_ratio, 1.0);
        assert!(s.api_key.is_none());
        assert!(s.exporter_headers().is_empty());
        assert!(!s.sdk_disabled);
    }

    #[test]
    fn only_true_disables_the_sdk() {
        assert!(settings(&[("OTEL_SDK_DISABLED", "true")]).sdk_disabled);
        assert!(settings(&[("OTEL_SDK_DISABLED", " TRUE ")]).sdk_disabled);
        for other in ["false", "1", "yes", ""] {
            assert!(
                !settings(&[("OTEL_SDK_DISABLED", other)]).sdk_disabled,
                "{other:?}"
            );
        }
    }

    #[test]
    fn otel_service_name_wins_over_resource_attributes_and_default() {
        let s = settings(&[
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ]);
        assert_eq!(s.service_name, "from-env");
        let s = settings(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")]);
        assert_eq!(s.service_name, "from-attrs");
    }

    #[test]
    fn resource_attributes_are_split_trimmed_and_percent_decoded() {
        let s = settings(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=payments, region = eu%2Dwest%201,broken,=novalue",
        )]);
        let pairs: Vec<(String, String)> = s
            .resource_attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("team".into(), "payments".into()),
                ("region".into(), "eu-west 1".into())
            ]
        );
    }

    #[test]
    fn sample_ratio_reads_spec_variable_then_alias_and_rejects_out_of_range() {
        assert_eq!(
            settings(&[("OTEL_SAMPLE_RATIO", "0.25")]).sample_ratio,
            0.25
        );
        assert_eq!(
            settings(&[
                ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
                ("OTEL_SAMPLE_RATIO", "0.25")
            ])
            .sample_ratio,
            0.5
        );
        assert_eq!(
            settings(&[("OTEL_TRACES_SAMPLER_ARG", "7")]).sample_ratio,
            1.0
        );
        let s = settings(&[("OTEL_TRACES_SAMPLER_ARG", "x")]);
        assert_eq!(s.sample_ratio, 1.0);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }

    #[test]
    fn an_exporter_protocol_other_than_http_protobuf_is_reported() {
        assert!(
            settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
                .warnings
                .is_empty()
        );
        let s = settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert!(s.warnings[0].contains("grpc"), "{:?}", s.warnings);
    }

    #[test]
    fn otel_traces_sampler_names_the_sampler() {
        assert_eq!(settings(&[]).sampler, SamplerKind::ParentBasedTraceIdRatio);
        for (value, kind) in [
            ("always_on", SamplerKind::AlwaysOn),
            ("always_off", SamplerKind::AlwaysOff),
            ("traceidratio", SamplerKind::TraceIdRatio),
            ("parentbased_always_on", SamplerKind::ParentBasedAlwaysOn),
            ("ParentBased_Always_Off", SamplerKind::ParentBasedAlwaysOff),
            (
                "parentbased_traceidratio",
                SamplerKind::ParentBasedTraceIdRatio,
            ),
        ] {
            let s = settings(&[("OTEL_TRACES_SAMPLER", value)]);
            assert_eq!(s.sampler, kind, "{value}");
            assert!(s.warnings.is_empty());
        }
        let s = settings(&[("OTEL_TRACES_SAMPLER", "jaeger_remote")]);
        assert_eq!(s.sampler, SamplerKind::ParentBasedTraceIdRatio);
        assert!(s.warnings[0].contains("jaeger_remote"), "{:?}", s.warnings);
    }

    #[test]
    fn api_key_becomes_an_x_api_key_header() {
        let s = settings(&[("OTEL_API_KEY", "s3cret")]);
        assert_eq!(
            s.exporter_headers().get("x-api-key").map(String::as_str),
            Some("s3cret")
        );
    }
}
