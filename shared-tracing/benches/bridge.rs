//! What one span costs, per span type (server, client, db, internal), made three ways: plain
//! `tracing` with no OpenTelemetry layer (what a service does with `OTEL_SDK_DISABLED=true`),
//! `tracing` through tracing-opentelemetry (how the services make spans), and the OpenTelemetry
//! API directly — each under a sampled and an unsampled parent (`ParentBased`, as the services
//! sample). Criterion measures the time; a counting allocator prints heap allocations per span
//! first. The spans carry the services' own attributes; ended spans go to a processor that drops
//! them, so exporting (protobuf, HTTP) is not in these figures.
//!
//! `cargo bench -p shared-tracing --bench bridge`; `cargo test` runs each case once.

use criterion::Criterion;
use opentelemetry::{
    Context, KeyValue,
    trace::{
        Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
        TraceState, Tracer as _, TracerProvider as _,
    },
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanProcessor},
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::{alloc::System, hint::black_box, time::Duration};
use tracing::{Dispatch, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::LevelFilter, layer::SubscriberExt};

/// Counts heap allocations, to print how many one span makes.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Ends spans and drops them: the cost measured stops where exporting would begin.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn tracer() -> SdkTracer {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_span_processor(Discard)
        .build()
        .tracer("bench")
}

/// A caller's context, as extracted from `traceparent`: sampled or not.
fn remote_parent(sampled: bool) -> Context {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags,
        true,
        TraceState::default(),
    ))
}

/// The subscriber a service installs (minus its log layer): the bridge with the same settings.
fn bridged() -> Dispatch {
    let layer = shared_tracing::telemetry::bridge(tracer()).with_filter(LevelFilter::INFO);
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// `tracing` with no OpenTelemetry layer: a span is only the registry's record of it.
fn plain() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::layer::Identity::new().with_filter(LevelFilter::INFO)),
    )
}

/// The span types, made as the services make them (shared_tracing::http_server, http_client, db).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Server,
    Client,
    Db,
    Internal,
}

const KINDS: [Kind; 4] = [Kind::Server, Kind::Client, Kind::Db, Kind::Internal];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Db => "db",
            Kind::Internal => "internal",
        }
    }

    /// One span through `tracing`, a child of the current span (a server span: of `remote`).
    fn via_tracing(self, remote: &Context) {
        match self {
            Kind::Server => {
                let (method, route) = (black_box("GET"), black_box("/api/users/{id}"));
                let span = tracing::info_span!(
                    "HTTP request",
                    otel.name = format!("{method} {route}"),
                    otel.kind = "server",
                    otel.status_code = Empty,
                    http.request.method = method,
                    http.route = route,
                    http.response.status_code = Empty,
                    url.path = "/api/users/1",
                    url.scheme = "http",
                    server.address = "127.0.0.1",
                    server.port = 8080_i64,
                    network.protocol.version = "1.1",
                    user_agent.original = "loadtest",
                    error.type = Empty,
                );
                let _ = span.set_parent(remote.clone());
                span.in_scope(|| black_box(()));
                span.record("http.response.status_code", 200_i64);
            }
            Kind::Client => {
                let template = black_box("/api/verify");
                let span = tracing::info_span!(
                    "HTTP client",
                    otel.name = format!("POST {template}"),
                    otel.kind = "client",
                    otel.status_code = Empty,
                    http.request.method = "POST",
                    http.response.status_code = Empty,
                    url.full = "http://127.0.0.1:8082/api/verify",
                    url.template = template,
                    server.address = "127.0.0.1",
                    server.port = 8082_i64,
                    peer.service = "auth-service",
                    error.type = Empty,
                );
                // Injecting traceparent reads the span's context.
                black_box(span.context());
                span.in_scope(|| black_box(()));
                span.record("http.response.status_code", 200_i64);
            }
            Kind::Db => {
                let (operation, collection) = (black_box("SELECT"), black_box("profiles"));
                let span = tracing::info_span!(
                    "db query",
                    otel.name = format!("{operation} {collection}"),
                    otel.kind = "client",
                    otel.status_code = Empty,
                    otel.status_description = Empty,
                    db.system.name = "sqlite",
                    db.operation.name = operation,
                    db.collection.name = collection,
                    db.response.status_code = Empty,
                    error.type = Empty,
                );
                span.in_scope(|| black_box(()));
            }
            Kind::Internal => {
                let span = tracing::info_span!("inventory.expire_reservation", order_id = "o-1");
                span.in_scope(|| black_box(()));
            }
        }
    }

    /// The same span through the OpenTelemetry API, a child of `parent`.
    fn via_api(self, tracer: &SdkTracer, parent: &Context) {
        let mut span = match self {
            Kind::Server => {
                let (method, route) = (black_box("GET"), black_box("/api/users/{id}"));
                tracer
                    .span_builder(format!("{method} {route}"))
                    .with_kind(SpanKind::Server)
                    .with_attributes([
                        KeyValue::new("http.request.method", method),
                        KeyValue::new("http.route", route),
                        KeyValue::new("url.path", "/api/users/1"),
                        KeyValue::new("url.scheme", "http"),
                        KeyValue::new("server.address", "127.0.0.1"),
                        KeyValue::new("server.port", 8080_i64),
                        KeyValue::new("network.protocol.version", "1.1"),
                        KeyValue::new("user_agent.original", "loadtest"),
                    ])
                    .start_with_context(tracer, parent)
            }
            Kind::Client => {
                let template = black_box("/api/verify");
                tracer
                    .span_builder(format!("POST {template}"))
                    .with_kind(SpanKind::Client)
                    .with_attributes([
                        KeyValue::new("http.request.method", "POST"),
                        KeyValue::new("url.full", "http://127.0.0.1:8082/api/verify"),
                        KeyValue::new("url.template", template),
                        KeyValue::new("server.address", "127.0.0.1"),
                        KeyValue::new("server.port", 8082_i64),
                        KeyValue::new("peer.service", "auth-service"),
                    ])
                    .start_with_context(tracer, parent)
            }
            Kind::Db => {
                let (operation, collection) = (black_box("SELECT"), black_box("profiles"));
                tracer
                    .span_builder(format!("{operation} {collection}"))
                    .with_kind(SpanKind::Client)
                    .with_attributes([
                        KeyValue::new("db.system.name", "sqlite"),
                        KeyValue::new("db.operation.name", operation),
                        KeyValue::new("db.collection.name", collection),
                    ])
                    .start_with_context(tracer, parent)
            }
            Kind::Internal => tracer
                .span_builder("inventory.expire_reservation")
                .with_attributes([KeyValue::new("order_id", "o-1")])
                .start_with_context(tracer, parent),
        };
        if matches!(self, Kind::Server | Kind::Client) {
            span.set_attribute(KeyValue::new("http.response.status_code", 200_i64));
        }
        span.set_status(Status::Unset);
        span.end();
    }
}

/// How a span is made in one case.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// `tracing` with no OpenTelemetry layer.
    Plain,
    /// `tracing` through tracing-opentelemetry.
    Bridge,
    /// The OpenTelemetry API.
    Api,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Plain => "plain tracing",
            Path::Bridge => "bridge",
            Path::Api => "otel api",
        }
    }
}

/// Runs `body(make_one_span)` with the parent set up as a service has it: for `tracing`, a
/// current span joined to the caller's context; for the API, that context itself.
fn with_case(path: Path, sampled: bool, kind: Kind, body: &mut dyn FnMut(&mut dyn FnMut())) {
    let remote = remote_parent(sampled);
    match path {
        Path::Plain | Path::Bridge => {
            let dispatch = if matches!(path, Path::Plain) {
                plain()
            } else {
                bridged()
            };
            tracing::dispatcher::with_default(&dispatch, || {
                let request = tracing::info_span!("request", otel.kind = "server");
                let _ = request.set_parent(remote.clone());
                let _entered = request.enter();
                body(&mut || kind.via_tracing(&remote));
            });
        }
        Path::Api => {
            let tracer = tracer();
            let request = tracer
                .span_builder("request")
                .with_kind(SpanKind::Server)
                .start_with_context(&tracer, &remote);
            let parent = remote.with_span(request);
            body(&mut || kind.via_api(&tracer, &parent));
        }
    }
}

const PATHS: [(Path, bool); 5] = [
    (Path::Plain, false),
    (Path::Bridge, true),
    (Path::Bridge, false),
    (Path::Api, true),
    (Path::Api, false),
];

fn label(path: Path, sampled: bool) -> String {
    match path {
        Path::Plain => path.name().to_owned(),
        _ if sampled => format!("{} sampled", path.name()),
        _ => format!("{} unsampled", path.name()),
    }
}

/// Heap allocations per span, per case, printed as a table.
fn print_allocations() {
    const SPANS: u64 = 2_000;
    println!("heap allocations per span");
    print!("{:<9}", "");
    for (path, sampled) in PATHS {
        print!("{:>18}", label(path, sampled));
    }
    println!();
    for kind in KINDS {
        print!("{:<9}", kind.name());
        for (path, sampled) in PATHS {
            let mut per_span = 0.0;
            with_case(path, sampled, kind, &mut |one| {
                one(); // the first span may set up lazily initialised state
                let region = Region::new(GLOBAL);
                for _ in 0..SPANS {
                    one();
                }
                let change = region.change();
                per_span = (change.allocations + change.reallocations) as f64 / SPANS as f64;
            });
            print!("{per_span:>18.1}");
        }
        println!();
    }
    println!();
}

fn bench(c: &mut Criterion) {
    for kind in KINDS {
        let mut group = c.benchmark_group(format!("span/{}", kind.name()));
        for (path, sampled) in PATHS {
            with_case(path, sampled, kind, &mut |one| {
                group.bench_function(label(path, sampled), |b| b.iter(&mut *one));
            });
        }
        group.finish();
    }
}

fn main() {
    print_allocations();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
