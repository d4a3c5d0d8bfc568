//! The tracer provider (resource, sampler, OTLP/HTTP exporter, batch processor), the `tracing`
//! subscriber that feeds it, and the guard that flushes it on shutdown.

use crate::TruncatingProcessor;
use crate::{
    logs, propagation,
    settings::{SamplerKind, Settings},
};
use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    resource::TelemetryResourceDetector,
    trace::{BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanProcessor},
};
use opentelemetry_semantic_conventions::resource::{
    DEPLOYMENT_ENVIRONMENT_NAME, HOST_NAME, SERVICE_INSTANCE_ID, SERVICE_NAMESPACE, SERVICE_VERSION,
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{
    EnvFilter, Layer, filter::Targets, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The OTLP exporter rejected its configuration (e.g. a malformed endpoint URL).
    #[error("building the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global `tracing` subscriber was already installed.
    #[error("installing the tracing subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; dropping it (or calling [`TelemetryGuard::shutdown`]) exports
/// every span still queued, so the spans of a finished request are never lost.
#[must_use = "dropping the guard shuts telemetry down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes queued spans and stops the exporter. Blocks until the export finishes or times out
    /// (`OTEL_BSP_EXPORT_TIMEOUT`), so call it after the server has stopped.
    pub fn shutdown(mut self) {
        self.shutdown_provider();
    }

    fn shutdown_provider(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            // The subscriber may already be gone; stderr is the one place left to say it.
            eprintln!("telemetry shutdown failed, queued spans may be lost: {error}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.shutdown_provider();
    }
}

/// Sets up tracing for one service: W3C propagators, the OTLP/HTTP exporter configured from the
/// standard `OTEL_*` variables, JSON logs on stdout, and the bridge from `tracing` spans to
/// OpenTelemetry. Call once, first thing in `main`, and keep the guard until the end.
pub fn init(service_name: &str, version: &str) -> Result<TelemetryGuard, InitError> {
    let settings = Settings::from_env(service_name);
    // With OTEL_SDK_DISABLED=true there is no provider and no bridge: spans stay plain `tracing`
    // spans (for the logs), nothing is exported and no context is injected downstream.
    let provider = match settings.sdk_disabled {
        true => None,
        false => Some(otlp_provider(&settings, version)?),
    };
    propagation::install_propagators();
    let otel_layer = provider.as_ref().map(|provider| {
        global::set_tracer_provider(provider.clone());
        bridge(provider.tracer("shared-tracing")).with_filter(span_filter())
    });
    let log_filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy()
        .add_directive("sqlx=warn".parse().expect("static directive"));
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(logs::json_layer().with_filter(log_filter))
        .try_init()?;

    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        service.name = %settings.service_name,
        sampler = ?settings.sampler,
        sample_ratio = settings.sample_ratio,
        sdk_disabled = settings.sdk_disabled,
        "telemetry initialised"
    );
    Ok(TelemetryGuard { provider })
}

/// The bridge from `tracing` spans to OpenTelemetry as every service sets it up: no code
/// location, thread or busy/idle-time attributes (each an allocation per span that no view here
/// uses), and no OpenTelemetry context made current when a span is entered. Nothing in this
/// workspace reads `opentelemetry::Context::current()` — propagation, logs and faults take the
/// context from the `tracing` span itself — while activation attached and detached a context on
/// every poll of every instrumented future: the largest tracing symbol in a profile of the
/// services under load. Code that does read it can enter `span.context().attach()` itself.
pub fn bridge<S>(tracer: SdkTracer) -> tracing_opentelemetry::OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
}

/// The provider exporting over OTLP/HTTP. Endpoint, headers, timeout and compression come from
/// OTEL_EXPORTER_OTLP_*; the SDK appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT and defaults
/// to http://localhost:4318.
fn otlp_provider(settings: &Settings, version: &str) -> Result<SdkTracerProvider, InitError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_headers(settings.exporter_headers())
        .build()?;
    // BatchSpanProcessor reads OTEL_BSP_* and exports from its own thread (hence the blocking
    // reqwest client the exporter is built with); values are cut to the length limit first.
    let batch = BatchSpanProcessor::builder(exporter).build();
    Ok(tracer_provider(
        settings,
        version,
        TruncatingProcessor::new(batch, settings.attribute_value_length_limit),
    ))
}

/// Builds the provider every service uses; tests pass an in-memory processor.
pub fn tracer_provider(
    settings: &Settings,
    version: &str,
    processor: impl SpanProcessor + 'static,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(sampler(settings.sampler, settings.sample_ratio))
        .with_resource(resource(settings, version))
        .build()
}

/// The SDK sampler for `kind`. The default, parent-based trace-id ratio, always honours a remote
/// parent's sampled flag and samples roots by trace id; the others are there because
/// `OTEL_TRACES_SAMPLER` may name them.
pub fn sampler(kind: SamplerKind, ratio: f64) -> Sampler {
    let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
    match kind {
        SamplerKind::AlwaysOn => Sampler::AlwaysOn,
        SamplerKind::AlwaysOff => Sampler::AlwaysOff,
        SamplerKind::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        SamplerKind::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
        SamplerKind::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
        SamplerKind::ParentBasedTraceIdRatio => parent_based(Sampler::TraceIdRatioBased(ratio)),
    }
}

/// The resource every span of this process carries. `OTEL_RESOURCE_ATTRIBUTES` overrides the
/// derived attributes; `service.name` is resolved in [`Settings`].
pub fn resource(settings: &Settings, version: &str) -> Resource {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_attributes([
            KeyValue::new(SERVICE_VERSION, version.to_owned()),
            KeyValue::new(SERVICE_NAMESPACE, settings.service_namespace.clone()),
            KeyValue::new(DEPLOYMENT_ENVIRONMENT_NAME, settings.environment.clone()),
            KeyValue::new(HOST_NAME, host),
            KeyValue::new(SERVICE_INSTANCE_ID, uuid::Uuid::new_v4().to_string()),
        ])
        .with_attributes(settings.resource_attributes.clone())
        .with_service_name(settings.service_name.clone())
        .build()
}

/// Which `tracing` spans and events become OpenTelemetry data: INFO and above, minus the HTTP,
/// SQL and exporter internals (exporting the exporter's own spans would feed itself).
fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets([
            ("h2", LevelFilter::OFF),
            ("hyper", LevelFilter::OFF),
            ("reqwest", LevelFilter::OFF),
            ("tower", LevelFilter::OFF),
            ("sqlx", LevelFilter::OFF),
            ("opentelemetry", LevelFilter::OFF),
        ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Value;

    #[test]
    fn resource_carries_service_identity_and_env_attributes() {
        let vars = [
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "team=checkout,service.namespace=shop",
            ),
            ("ENVIRONMENT", "staging"),
        ];
        let settings = Settings::from_lookup("order-service", |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        });
        let resource = resource(&settings, "1.2.3");
        let get = |key: &'static str| resource.get(&key.into()).map(|v: Value| v.to_string());
        assert_eq!(get("service.name").as_deref(), Some("order-service"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get("service.namespace").as_deref(), Some("shop"));
        assert_eq!(
            get("deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(get("team").as_deref(), Some("checkout"));
        assert!(get("host.name").is_some_and(|h| !h.is_empty()));
        assert!(get("service.instance.id").is_some_and(|id| id.len() == 36));
        assert_eq!(get("telemetry.sdk.language").as_deref(), Some("rust"));
    }
}
