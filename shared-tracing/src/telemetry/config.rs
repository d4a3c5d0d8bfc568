//! The telemetry variables a service reads, declared once as clap arguments (so every binary's
//! `--help` lists them) under the OpenTelemetry specification's names; [`Settings`] resolves them.

use super::settings::Settings;
use secrecy::{ExposeSecret, SecretString};
use std::{convert::Infallible, fmt, str::FromStr};

/// Where a process runs: `deployment.environment.name` on its spans, and whether the development
/// hooks (fault injection, the W3C test endpoint, trusting every caller's trace) may be on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Environment {
    /// `development` (the default).
    #[default]
    Development,
    /// `staging`.
    Staging,
    /// `production`: every development hook is off.
    Production,
    /// Any other name, kept as given.
    Other(String),
}

impl Environment {
    /// Whether this is production.
    pub fn is_production(&self) -> bool {
        *self == Self::Production
    }

    /// The name, as `deployment.environment.name` carries it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
            Self::Other(name) => name,
        }
    }
}

impl FromStr for Environment {
    type Err = Infallible;

    /// Known names in any case, surrounding spaces ignored; empty is `development`.
    fn from_str(raw: &str) -> Result<Self, Infallible> {
        let name = raw.trim();
        Ok(match name.to_ascii_lowercase().as_str() {
            "" | "development" => Self::Development,
            "staging" => Self::Staging,
            "production" => Self::Production,
            _ => Self::Other(name.to_owned()),
        })
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every telemetry variable, for a service's `Config` (`#[command(flatten)]`). Values are kept as
/// given and resolved by [`TelemetryConfig::settings`]: a malformed one is reported and replaced
/// by its default, as the specification asks, rather than stopping the service.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetryConfig {
    /// Where this runs: `deployment.environment.name` on every span. `production` also turns
    /// fault injection and the W3C test endpoint off, and makes the gateway trust no caller's
    /// trace context unless named.
    #[arg(long, env = "ENVIRONMENT", default_value = "development")]
    pub environment: Environment,
    /// `service.name` (default: the service's own name, or `service.name` in
    /// OTEL_RESOURCE_ATTRIBUTES).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub otel_service_name: Option<String>,
    /// Extra resource attributes, `key=value,key2=value2` (values percent-decoded).
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES")]
    pub otel_resource_attributes: Option<String>,
    /// `service.namespace` (default `default`).
    #[arg(long, env = "SERVICE_NAMESPACE")]
    pub service_namespace: Option<String>,
    /// The sampler: `parentbased_traceidratio` (default), `parentbased_always_on`,
    /// `parentbased_always_off`, `always_on`, `always_off`, `traceidratio`,
    /// `parentbased_jaeger_remote` or `jaeger_remote` (rates per operation from Jaeger's
    /// sampling endpoint, docs/sampling.md).
    #[arg(long, env = "OTEL_TRACES_SAMPLER")]
    pub otel_traces_sampler: Option<String>,
    /// The sampler's ratio of root spans sampled, 0 to 1 (default 1). For the Jaeger remote
    /// samplers: `endpoint=URL,pollingIntervalMs=N,initialSamplingRate=R` (defaults
    /// `http://localhost:5778/sampling`, 60000, 0.001).
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG")]
    pub otel_traces_sampler_arg: Option<String>,
    /// The same ratio under an older name, read when OTEL_TRACES_SAMPLER_ARG is not set.
    #[arg(long, env = "OTEL_SAMPLE_RATIO")]
    pub otel_sample_ratio: Option<String>,
    /// `true` records, exports and propagates nothing; the logs stay.
    #[arg(long, env = "OTEL_SDK_DISABLED")]
    pub otel_sdk_disabled: Option<String>,
    /// Sent to the exporter's endpoint as `x-api-key` (never logged).
    #[arg(long, env = "OTEL_API_KEY", hide_env_values = true)]
    pub otel_api_key: Option<SecretString>,
    /// Where spans go: `/v1/traces` is appended (default `http://localhost:4318`).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// Where spans go, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    pub otel_exporter_otlp_traces_endpoint: Option<String>,
    /// Headers for the exporter, `key=value,key2=value2` (values percent-decoded).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", hide_env_values = true)]
    pub otel_exporter_otlp_headers: Option<SecretString>,
    /// How long one export may take, in milliseconds (default 10000).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TIMEOUT")]
    pub otel_exporter_otlp_timeout: Option<String>,
    /// The same for traces only (wins over OTEL_EXPORTER_OTLP_TIMEOUT).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")]
    pub otel_exporter_otlp_traces_timeout: Option<String>,
    /// Only `http/protobuf` is spoken; another value is reported and ignored.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    pub otel_exporter_otlp_protocol: Option<String>,
    /// The same for traces only.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")]
    pub otel_exporter_otlp_traces_protocol: Option<String>,
    /// How long ended spans wait before they are exported, in milliseconds (default 5000).
    #[arg(long, env = "OTEL_BSP_SCHEDULE_DELAY")]
    pub otel_bsp_schedule_delay: Option<String>,
    /// Ended spans queued for export at most; past it new ones are dropped and counted
    /// (default 2048).
    #[arg(long, env = "OTEL_BSP_MAX_QUEUE_SIZE")]
    pub otel_bsp_max_queue_size: Option<String>,
    /// Spans per export request at most (default 512).
    #[arg(long, env = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")]
    pub otel_bsp_max_export_batch_size: Option<String>,
    /// The longest attribute value exported, in characters (default 1024).
    #[arg(long, env = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")]
    pub otel_span_attribute_value_length_limit: Option<String>,
    /// The same for every signal, read when the span variable is not set.
    #[arg(long, env = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")]
    pub otel_attribute_value_length_limit: Option<String>,
    /// Which log lines are written, as `tracing-subscriber`'s EnvFilter reads it (default
    /// `info`); spans exported are not affected.
    #[arg(long = "log", env = "RUST_LOG")]
    pub rust_log: Option<String>,
}

impl TelemetryConfig {
    /// The value of one variable, by its name.
    fn lookup(&self, key: &str) -> Option<String> {
        let value = match key {
            "ENVIRONMENT" => return Some(self.environment.as_str().to_owned()),
            "OTEL_SERVICE_NAME" => &self.otel_service_name,
            "OTEL_RESOURCE_ATTRIBUTES" => &self.otel_resource_attributes,
            "SERVICE_NAMESPACE" => &self.service_namespace,
            "OTEL_TRACES_SAMPLER" => &self.otel_traces_sampler,
            "OTEL_TRACES_SAMPLER_ARG" => &self.otel_traces_sampler_arg,
            "OTEL_SAMPLE_RATIO" => &self.otel_sample_ratio,
            "OTEL_SDK_DISABLED" => &self.otel_sdk_disabled,
            "OTEL_API_KEY" => {
                return self
                    .otel_api_key
                    .as_ref()
                    .map(|key| key.expose_secret().to_owned());
            }
            "OTEL_EXPORTER_OTLP_HEADERS" => {
                return self
                    .otel_exporter_otlp_headers
                    .as_ref()
                    .map(|headers| headers.expose_secret().to_owned());
            }
            "OTEL_EXPORTER_OTLP_ENDPOINT" => &self.otel_exporter_otlp_endpoint,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => &self.otel_exporter_otlp_traces_endpoint,
            "OTEL_EXPORTER_OTLP_TIMEOUT" => &self.otel_exporter_otlp_timeout,
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" => &self.otel_exporter_otlp_traces_timeout,
            "OTEL_EXPORTER_OTLP_PROTOCOL" => &self.otel_exporter_otlp_protocol,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => &self.otel_exporter_otlp_traces_protocol,
            "OTEL_BSP_SCHEDULE_DELAY" => &self.otel_bsp_schedule_delay,
            "OTEL_BSP_MAX_QUEUE_SIZE" => &self.otel_bsp_max_queue_size,
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" => &self.otel_bsp_max_export_batch_size,
            "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT" => {
                &self.otel_span_attribute_value_length_limit
            }
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" => &self.otel_attribute_value_length_limit,
            "RUST_LOG" => &self.rust_log,
            _ => return None,
        };
        value.clone()
    }

    /// The settings these values resolve to, for the service whose own name is
    /// `default_service_name`.
    pub fn settings(&self, default_service_name: &str) -> Settings {
        Settings::from_lookup(default_service_name, |key| self.lookup(key))
    }

    /// `service.name` as [`Self::settings`] resolves it, for what else keys off it (the
    /// `fault.<service>` baggage entry).
    pub fn service_name(&self, default_service_name: &str) -> String {
        self.settings(default_service_name).service_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Config {
        #[command(flatten)]
        telemetry: TelemetryConfig,
    }

    #[test]
    fn flags_reach_the_settings_under_their_variable_names() {
        let config = Config::try_parse_from([
            "svc",
            "--environment",
            "Production",
            "--otel-traces-sampler",
            "always_off",
            "--otel-api-key",
            "s3cret",
            "--log",
            "debug",
        ])
        .unwrap();
        assert!(config.telemetry.environment.is_production());
        let settings = config.telemetry.settings("order-service");
        assert_eq!(settings.environment, Environment::Production);
        assert_eq!(settings.sampler, super::super::SamplerKind::AlwaysOff);
        assert_eq!(settings.log_filter, "debug");
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn environment_names_parse_once_whatever_their_case() {
        let parse = |raw: &str| raw.parse::<Environment>().unwrap();
        assert_eq!(parse(" PRODUCTION "), Environment::Production);
        assert_eq!(parse(""), Environment::Development);
        assert_eq!(parse("staging"), Environment::Staging);
        assert_eq!(parse("qa-3"), Environment::Other("qa-3".into()));
        assert_eq!(parse("qa-3").as_str(), "qa-3");
    }
}
