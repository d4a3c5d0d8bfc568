//! Telemetry settings resolved from the variables [`super::TelemetryConfig`] holds, under the
//! OpenTelemetry specification's names.
//!
//! Everything is read through a lookup function, so tests supply their own values (edition 2024
//! makes `std::env::set_var` unsafe, and the workspace forbids `unsafe`).

use super::{config::Environment, remote_sampling::RemoteSamplingSettings};
use opentelemetry::KeyValue;
use secrecy::SecretString;
use std::{collections::HashMap, time::Duration};

/// What `init` needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
    /// else the name the service passes in.
    pub service_name: String,
    /// `service.namespace` from `SERVICE_NAMESPACE` (default `default`).
    pub service_namespace: String,
    /// `deployment.environment.name` from `ENVIRONMENT` (default `development`).
    pub environment: Environment,
    /// Extra resource attributes from `OTEL_RESOURCE_ATTRIBUTES` (`k=v,k2=v2`, percent-decoded).
    pub resource_attributes: Vec<KeyValue>,
    /// The sampler `OTEL_TRACES_SAMPLER` names (default `parentbased_traceidratio`).
    pub sampler: SamplerKind,
    /// Root-span sampling ratio from `OTEL_TRACES_SAMPLER_ARG` or `OTEL_SAMPLE_RATIO` (default 1.0).
    pub sample_ratio: f64,
    /// The Jaeger remote samplers' endpoint, polling interval and initial rate, from
    /// `OTEL_TRACES_SAMPLER_ARG` when `OTEL_TRACES_SAMPLER` names one of them.
    pub remote_sampling: RemoteSamplingSettings,
    /// `x-api-key` header for the exporter, from `OTEL_API_KEY` (never logged).
    pub api_key: Option<SecretString>,
    /// `OTEL_SDK_DISABLED=true`: no spans are recorded, exported or propagated; logs stay.
    /// Only `true` (any case) disables, as the specification says.
    pub sdk_disabled: bool,
    /// The longest attribute value exported, in characters:
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, else
    /// [`super::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT`].
    pub attribute_value_length_limit: usize,
    /// Where and how spans are exported.
    pub exporter: ExporterSettings,
    /// The log filter, `RUST_LOG` (default `info`).
    pub log_filter: String,
    /// Values that were ignored, and why; `init` logs them once logging is up.
    pub warnings: Vec<String>,
}

/// The OTLP/HTTP exporter and its batch processor, as the specification's variables set them.
#[derive(Debug, Clone)]
pub struct ExporterSettings {
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else `OTEL_EXPORTER_OTLP_ENDPOINT` with
    /// `/v1/traces` appended, else `http://localhost:4318/v1/traces`.
    pub endpoint: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, plus `x-api-key` from `OTEL_API_KEY`. Values are secrets.
    pub headers: SecretHeaders,
    /// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (default 10 s).
    pub timeout: Duration,
    /// `OTEL_BSP_SCHEDULE_DELAY` (default 5 s).
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048).
    pub max_queue_size: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at most the queue size).
    pub max_export_batch_size: usize,
}

/// Exporter headers whose values are never printed.
#[derive(Clone, Default)]
pub struct SecretHeaders(pub(crate) HashMap<String, String>);

impl SecretHeaders {
    /// The header names, for logs.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for SecretHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
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
    /// `jaeger_remote`: every span by the strategy a Jaeger sampling endpoint serves for this
    /// service and the span's name.
    JaegerRemote,
    /// `parentbased_jaeger_remote`: follow the parent; sample roots by the remote strategy.
    ParentBasedJaegerRemote,
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
            "jaeger_remote" => Self::JaegerRemote,
            "parentbased_jaeger_remote" => Self::ParentBasedJaegerRemote,
            _ => return None,
        })
    }

    /// Whether it is one of the Jaeger remote samplers (whose `OTEL_TRACES_SAMPLER_ARG` is
    /// `key=value` pairs, not a ratio).
    pub fn is_jaeger_remote(self) -> bool {
        matches!(self, Self::JaegerRemote | Self::ParentBasedJaegerRemote)
    }

    /// What the hops need to know of it: whether a child follows its parent's decision, and
    /// whether any root is sampled.
    pub fn sampling(self) -> crate::spans::Sampling {
        use crate::spans::Sampling;
        match self {
            Self::AlwaysOn | Self::TraceIdRatio | Self::JaegerRemote => Sampling::Independent,
            Self::AlwaysOff => Sampling::Never,
            Self::ParentBasedAlwaysOff => Sampling::FollowsParentNoRoots,
            Self::ParentBasedAlwaysOn
            | Self::ParentBasedTraceIdRatio
            | Self::ParentBasedJaegerRemote => Sampling::FollowsParent,
        }
    }
}

/// The OTLP/HTTP endpoint when no variable names one.
const DEFAULT_ENDPOINT: &str = "http://localhost:4318";

impl Settings {
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
        let mut warnings = Vec::new();
        let resource_attributes = get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|raw| parse_key_values(&raw))
            .unwrap_or_default()
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .collect::<Vec<_>>();
        let from_attributes = resource_attributes
            .iter()
            .find(|kv| kv.key.as_str() == "service.name")
            .map(|kv| kv.value.to_string());
        let environment: Environment = get("ENVIRONMENT")
            .unwrap_or_default()
            .parse()
            .unwrap_or_default();
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
        let remote = sampler.is_jaeger_remote();
        let remote_sampling = match remote {
            true => RemoteSamplingSettings::parse(
                get("OTEL_TRACES_SAMPLER_ARG").as_deref(),
                &mut warnings,
            ),
            false => RemoteSamplingSettings::default(),
        };
        let ratio_arg = match remote {
            true => get("OTEL_SAMPLE_RATIO"),
            false => get("OTEL_TRACES_SAMPLER_ARG").or_else(|| get("OTEL_SAMPLE_RATIO")),
        };
        let sample_ratio = match ratio_arg {
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
        let mut whole = |keys: &[&str], default: u64, positive: bool| -> u64 {
            let Some((key, raw)) = keys.iter().find_map(|key| Some((*key, get(key)?))) else {
                return default;
            };
            match raw.parse::<u64>() {
                Ok(n) if n > 0 || !positive => n,
                _ => {
                    warnings.push(format!(
                        "{key}={raw} is not a {}whole number; using {default}",
                        if positive { "positive " } else { "" }
                    ));
                    default
                }
            }
        };
        let attribute_value_length_limit = whole(
            &[
                "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            ],
            super::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT as u64,
            true,
        ) as usize;
        let timeout = whole(
            &[
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
            10_000,
            false,
        );
        let schedule_delay = whole(&["OTEL_BSP_SCHEDULE_DELAY"], 5_000, false);
        let max_queue_size = whole(&["OTEL_BSP_MAX_QUEUE_SIZE"], 2_048, true) as usize;
        let max_export_batch_size =
            (whole(&["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], 512, true) as usize).min(max_queue_size);
        let endpoint = match get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(endpoint) => endpoint,
            None => format!(
                "{}/v1/traces",
                get("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .as_deref()
                    .unwrap_or(DEFAULT_ENDPOINT)
                    .trim_end_matches('/')
            ),
        };
        let api_key = get("OTEL_API_KEY");
        let mut headers: HashMap<String, String> = get("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|raw| parse_key_values(&raw))
            .unwrap_or_default()
            .into_iter()
            .collect();
        if let Some(key) = &api_key {
            headers.insert("x-api-key".to_owned(), key.clone());
        }
        Settings {
            attribute_value_length_limit,
            service_name: get("OTEL_SERVICE_NAME")
                .or(from_attributes)
                .unwrap_or_else(|| default_service_name.to_owned()),
            service_namespace: get("SERVICE_NAMESPACE").unwrap_or_else(|| "default".to_owned()),
            environment,
            resource_attributes,
            sampler,
            sample_ratio,
            remote_sampling,
            api_key: api_key.map(SecretString::from),
            sdk_disabled: get("OTEL_SDK_DISABLED")
                .is_some_and(|raw| raw.eq_ignore_ascii_case("true")),
            exporter: ExporterSettings {
                endpoint,
                headers: SecretHeaders(headers),
                timeout: Duration::from_millis(timeout),
                schedule_delay: Duration::from_millis(schedule_delay),
                max_queue_size,
                max_export_batch_size,
            },
            log_filter: get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            warnings,
        }
    }
}

/// Parses `key=value` pairs separated by commas whose values may be percent-encoded (W3C Baggage
/// octet rules), as `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` are written.
/// Malformed entries are skipped.
fn parse_key_values(raw: &str) -> Vec<(String, String)> {
    raw.split(',')
        .filter_map(|entry| entry.split_once('='))
        .map(|(key, value)| (key.trim(), percent_decode(value.trim())))
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_owned(), value))
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
    fn attribute_value_length_limit_reads_the_span_variable_then_the_general_one() {
        let default = super::super::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
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
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(s.sample_ratio, 1.0);
        assert!(s.api_key.is_none());
        assert!(s.exporter.headers.0.is_empty());
        assert_eq!(s.exporter.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(s.exporter.timeout, Duration::from_secs(10));
        assert_eq!(s.exporter.schedule_delay, Duration::from_secs(5));
        assert_eq!(s.exporter.max_queue_size, 2048);
        assert_eq!(s.exporter.max_export_batch_size, 512);
        assert_eq!(s.log_filter, "info");
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
        let s = settings(&[("OTEL_TRACES_SAMPLER", "xray")]);
        assert_eq!(s.sampler, SamplerKind::ParentBasedTraceIdRatio);
        assert!(s.warnings[0].contains("xray"), "{:?}", s.warnings);
    }

    #[test]
    fn the_jaeger_remote_samplers_read_their_argument_as_key_value_pairs() {
        let s = settings(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
            (
                "OTEL_TRACES_SAMPLER_ARG",
                "endpoint=http://jaeger:5778/sampling,pollingIntervalMs=1000,initialSamplingRate=1",
            ),
        ]);
        assert_eq!(s.sampler, SamplerKind::ParentBasedJaegerRemote);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.remote_sampling.endpoint, "http://jaeger:5778/sampling");
        assert_eq!(s.remote_sampling.polling_interval, Duration::from_secs(1));
        assert_eq!(s.remote_sampling.initial_sampling_rate, 1.0);
        assert_eq!(s.sample_ratio, 1.0);

        let s = settings(&[
            ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
        ]);
        assert_eq!(s.sampler, SamplerKind::JaegerRemote);
        assert_eq!(s.remote_sampling, RemoteSamplingSettings::default());
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(
            s.warnings[0].starts_with("OTEL_TRACES_SAMPLER_ARG: `0.5` is not key=value"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn api_key_becomes_an_x_api_key_header_beside_the_exporter_headers() {
        let s = settings(&[
            ("OTEL_API_KEY", "s3cret"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "tenant=a%20b,broken"),
        ]);
        let headers = &s.exporter.headers.0;
        assert_eq!(headers.get("x-api-key").map(String::as_str), Some("s3cret"));
        assert_eq!(headers.get("tenant").map(String::as_str), Some("a b"));
        assert_eq!(headers.len(), 2);
        // Neither the key nor a header value is ever printed.
        assert!(!format!("{s:?}").contains("s3cret"), "{s:?}");
        assert!(!format!("{s:?}").contains("a b"), "{s:?}");
    }

    #[test]
    fn the_endpoint_follows_the_specifications_precedence() {
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")];
        assert_eq!(
            settings(&base).exporter.endpoint,
            "http://collector:4318/v1/traces"
        );
        let both = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://other:9999/spans",
            ),
        ];
        assert_eq!(settings(&both).exporter.endpoint, "http://other:9999/spans");
    }

    #[test]
    fn batch_and_timeout_settings_are_read_and_bad_ones_reported() {
        let s = settings(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
        ]);
        assert_eq!(s.exporter.schedule_delay, Duration::from_millis(200));
        assert_eq!(s.exporter.max_queue_size, 8);
        // A batch is never larger than the queue.
        assert_eq!(s.exporter.max_export_batch_size, 8);
        assert_eq!(s.exporter.timeout, Duration::from_millis(1500));
        let bad = settings(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ]);
        assert_eq!(bad.exporter.max_queue_size, 2048);
        assert_eq!(bad.exporter.schedule_delay, Duration::from_secs(5));
        assert_eq!(bad.warnings.len(), 2, "{:?}", bad.warnings);
    }
}
