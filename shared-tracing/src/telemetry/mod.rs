//! Telemetry for one process: the tracer provider (resource, sampler, OTLP/HTTP exporter, batch
//! processor), the `tracing` subscriber that feeds it and writes JSON logs, and the guard that
//! flushes it on shutdown — all from a [`TelemetryConfig`] parsed once in `main`.

mod config;
mod limits;
mod logs;
mod remote_sampling;
mod settings;

pub use config::{Environment, TelemetryConfig};
pub use limits::{DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, TruncatingProcessor, prefix};
pub use remote_sampling::{JaegerRemoteSampler, Poller, RemoteSamplingSettings, Strategy};
pub use settings::{ExporterSettings, SamplerKind, SecretHeaders, Settings};

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    resource::TelemetryResourceDetector,
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler, SdkTracer,
        SdkTracerProvider, ShouldSample, SpanProcessor,
    },
};
use opentelemetry_semantic_conventions::resource::{
    DEPLOYMENT_ENVIRONMENT_NAME, HOST_NAME, SERVICE_INSTANCE_ID, SERVICE_NAMESPACE, SERVICE_VERSION,
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{DynFilterFn, FilterExt, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
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
    poller: Option<Poller>,
}

impl TelemetryGuard {
    /// Flushes queued spans and stops the exporter. Blocks until the export finishes or times out,
    /// so call it after the server has stopped.
    pub fn shutdown(mut self) {
        self.shutdown_provider();
    }

    fn shutdown_provider(&mut self) {
        self.poller = None;
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

/// Sets up tracing for one service: W3C propagators, the OTLP/HTTP exporter, JSON logs on stdout,
/// and the bridge from `tracing` spans to OpenTelemetry, from `config` (the variables `main`
/// parsed) for the service whose own name is `service_name`. Call once, first thing in `main`,
/// and keep the guard until the end.
///
/// ```no_run
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Config {
///     #[command(flatten)]
///     telemetry: shared_tracing::TelemetryConfig,
/// }
///
/// fn main() -> Result<(), shared_tracing::telemetry::InitError> {
///     let config = Config::parse();
///     let _telemetry = shared_tracing::init(&config.telemetry, "quote-service", "1.0.0")?;
///     tracing::info!("spans and logs from here on are exported");
///     Ok(())
/// }
/// ```
pub fn init(
    config: &TelemetryConfig,
    service_name: &str,
    version: &str,
) -> Result<TelemetryGuard, InitError> {
    init_with(&config.settings(service_name), version)
}

/// [`init`] from resolved settings.
pub fn init_with(settings: &Settings, version: &str) -> Result<TelemetryGuard, InitError> {
    // With OTEL_SDK_DISABLED=true there is no provider and no bridge: the hops make no spans and
    // read or send no trace headers (`Sampling::Disabled`), and a service's own spans, wanted by
    // no layer, are disabled.
    let (provider, remote, root_sampler) = match settings.sdk_disabled {
        true => (None, None, None),
        false => {
            let (provider, remote, root_sampler) = otlp_provider(settings, version)?;
            (Some(provider), remote, Some(root_sampler))
        }
    };
    crate::propagation::install_propagators();
    let otel_layer = provider.as_ref().map(|provider| {
        global::set_tracer_provider(provider.clone());
        bridge(provider.tracer("shared-tracing")).with_filter(bridge_filter())
    });
    crate::spans::set_root_sampler(root_sampler);
    crate::spans::set_sampling(match settings.sdk_disabled {
        true => crate::spans::Sampling::Disabled,
        false => settings.sampler.sampling(),
    });
    let log_filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse_lossy(&settings.log_filter)
        .add_directive("sqlx=warn".parse().expect("static directive"));
    tracing_subscriber::registry()
        .with(otel_layer)
        .with(logs::json_layer().with_filter(log_filter.and(logs::events_only())))
        .try_init()?;

    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        service.name = %settings.service_name,
        sampler = ?settings.sampler,
        sample_ratio = settings.sample_ratio,
        sampling.endpoint = remote
            .is_some()
            .then(|| remote_sampling::redacted(&settings.remote_sampling.endpoint)),
        sdk_disabled = settings.sdk_disabled,
        endpoint = %settings.exporter.endpoint,
        "telemetry initialised"
    );
    // Polled once logging is up, so the first answer (or failure) is in the log.
    let poller =
        remote.map(|sampler| sampler.poll(&settings.service_name, &settings.remote_sampling));
    Ok(TelemetryGuard { provider, poller })
}

/// Resolves on the first Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send): serve until
/// it, then let the [`TelemetryGuard`] go, which flushes the spans still queued.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received, draining requests and flushing spans");
}

/// The bridge from `tracing` spans to OpenTelemetry as every service sets it up: no code
/// location, thread or busy/idle-time attributes (each an allocation per span that no view here
/// uses), and no OpenTelemetry context made current when a span is entered: activation attaches
/// and detaches a context on every poll of every instrumented future, the largest tracing symbol
/// in a profile of the services under load. A sampled request's context is read from its
/// `tracing` span ([`crate::spans::context`]); only unsampled work runs under an attached one.
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

/// What [`otlp_provider`] builds.
type Pipeline = (
    SdkTracerProvider,
    Option<JaegerRemoteSampler>,
    Box<dyn ShouldSample>,
);

/// The provider exporting over OTLP/HTTP with protobuf bodies, from the batch processor's own
/// thread (hence the blocking reqwest client the exporter is built with); values are cut to the
/// length limit first. With it, the sampler it was given (for the hops to decide roots with) and,
/// when that is a Jaeger remote sampler, the remote sampler, to start polling.
fn otlp_provider(settings: &Settings, version: &str) -> Result<Pipeline, InitError> {
    let exporter = &settings.exporter;
    let span_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(exporter.endpoint.clone())
        .with_timeout(exporter.timeout)
        .with_headers(exporter.headers.0.clone())
        .build()?;
    let batch = BatchSpanProcessor::builder(span_exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(exporter.schedule_delay)
                .with_max_queue_size(exporter.max_queue_size)
                .with_max_export_batch_size(exporter.max_export_batch_size)
                .build(),
        )
        .build();
    let (sampler, remote) = sampler(settings);
    let processor = TruncatingProcessor::new(batch, settings.attribute_value_length_limit);
    let provider = provider_with(settings, version, processor, sampler.clone());
    Ok((provider, remote, sampler))
}

/// Builds the provider every service uses; tests pass an in-memory processor. A Jaeger remote
/// sampler stays at its initial rate here: `init` starts its polling.
pub fn tracer_provider(
    settings: &Settings,
    version: &str,
    processor: impl SpanProcessor + 'static,
) -> SdkTracerProvider {
    provider_with(settings, version, processor, sampler(settings).0)
}

fn provider_with(
    settings: &Settings,
    version: &str,
    processor: impl SpanProcessor + 'static,
    sampler: Box<dyn ShouldSample>,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(HopSampler(sampler))
        .with_id_generator(HopIds)
        .with_resource(resource(settings, version))
        .build()
}

/// The provider's id generator: random ids, except for a root a hop has decided, which gets the
/// trace id it was decided for ([`crate::spans::start_decided`]). A provider built by hand for
/// the kit's hops needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HopIds;

impl IdGenerator for HopIds {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        crate::spans::decided_trace_id()
            .unwrap_or_else(|| RandomIdGenerator::default().new_trace_id())
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        RandomIdGenerator::default().new_span_id()
    }
}

/// The provider's sampler: the one it wraps, except for a root a hop has already decided
/// ([`crate::spans::DecidedRoot`] in its parent context), whose decision stands. A provider
/// built by hand for the kit's hops needs it around its sampler.
#[derive(Debug, Clone)]
pub struct HopSampler(pub Box<dyn ShouldSample>);

impl ShouldSample for HopSampler {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        span_kind: &opentelemetry::trace::SpanKind,
        attributes: &[KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        match crate::spans::decided_root(parent_context) {
            Some(decided) => decided.clone(),
            None => {
                self.0
                    .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
            }
        }
    }
}

/// The sampler `settings` name, and the Jaeger remote sampler inside it when they name one
/// (at its initial rate until [`JaegerRemoteSampler::poll`]). The default, parent-based trace-id
/// ratio, always honours a remote parent's sampled flag and samples roots by trace id; the
/// others are there because `OTEL_TRACES_SAMPLER` may name them.
pub fn sampler(settings: &Settings) -> (Box<dyn ShouldSample>, Option<JaegerRemoteSampler>) {
    let ratio = settings.sample_ratio;
    let remote = || JaegerRemoteSampler::new(&settings.remote_sampling);
    // `parent_based` (not `Sampler::ParentBased`) keeps the root sampler's attributes.
    let sampler: Box<dyn ShouldSample> = match settings.sampler {
        SamplerKind::AlwaysOn => Box::new(Sampler::AlwaysOn),
        SamplerKind::AlwaysOff => Box::new(Sampler::AlwaysOff),
        SamplerKind::TraceIdRatio => Box::new(Sampler::TraceIdRatioBased(ratio)),
        SamplerKind::ParentBasedAlwaysOn => Box::new(Sampler::parent_based(Sampler::AlwaysOn)),
        SamplerKind::ParentBasedAlwaysOff => Box::new(Sampler::parent_based(Sampler::AlwaysOff)),
        SamplerKind::ParentBasedTraceIdRatio => {
            Box::new(Sampler::parent_based(Sampler::TraceIdRatioBased(ratio)))
        }
        SamplerKind::JaegerRemote => {
            let remote = remote();
            return (Box::new(remote.clone()), Some(remote));
        }
        SamplerKind::ParentBasedJaegerRemote => {
            let remote = remote();
            return (
                Box::new(Sampler::parent_based(remote.clone())),
                Some(remote),
            );
        }
    };
    (sampler, None)
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
            KeyValue::new(
                DEPLOYMENT_ENVIRONMENT_NAME,
                settings.environment.as_str().to_owned(),
            ),
            KeyValue::new(HOST_NAME, host),
            KeyValue::new(SERVICE_INSTANCE_ID, uuid::Uuid::new_v4().to_string()),
        ])
        .with_attributes(settings.resource_attributes.clone())
        .with_service_name(settings.service_name.clone())
        .build()
}

/// What the bridge sees: [`span_filter`]'s targets, and nothing of work that is not sampled (it
/// runs under its context attached, [`crate::spans`]). The bridge would build each of those spans
/// and copy its fields before learning that nothing will be recorded.
pub fn bridge_filter<S>() -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // The hint keeps the targets' INFO as the level `tracing` and `log` callsites are cut at.
    let sampled = DynFilterFn::new(|_, _| !crate::spans::unsampled_attached())
        .with_max_level_hint(LevelFilter::TRACE);
    span_filter().and(sampled)
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
