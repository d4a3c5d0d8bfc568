//! Work no one samples, through the SERVER hop as `ServerLayer` serves it: no span reaches the
//! exporter, the context goes on all the same, and a root is put to the sampler once. One test:
//! the sampling facts the hops read are process-wide.

use axum::{Router, body::Body, http::Request, routing::get};
use opentelemetry::{
    Context,
    trace::{Link, SpanKind, TraceId, TracerProvider as _},
};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
    SimpleSpanProcessor, SpanData,
};
use shared_tracing::{
    http_client,
    http_server::ServerLayer,
    propagation, spans,
    telemetry::{HopIds, HopSampler, bridge, bridge_filter},
};
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
use tower::ServiceExt;
use tracing_subscriber::{Layer, layer::SubscriberExt};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A root sampler whose answer the test sets, counting how often it is asked about a root, and
/// about any span (a span the bridge builds asks it, even one it then drops).
#[derive(Debug, Clone, Default)]
struct Roots {
    sample: Arc<AtomicBool>,
    /// Sample a root when its trace id's last byte is even, as a ratio sampler decides by id.
    by_trace_id: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
    spans: Arc<AtomicUsize>,
}

impl ShouldSample for Roots {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        _: &str,
        _: &SpanKind,
        _: &[opentelemetry::KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        use opentelemetry::trace::TraceContextExt;
        self.spans.fetch_add(1, Ordering::SeqCst);
        let parent = parent.map(|cx| cx.span().span_context().clone());
        let decision = match parent.filter(|p| p.is_valid()) {
            // Children follow their parent, as every parent-based sampler does.
            Some(parent) if parent.is_sampled() => SamplingDecision::RecordAndSample,
            Some(_) => SamplingDecision::Drop,
            None => {
                self.asked.fetch_add(1, Ordering::SeqCst);
                let sample = match self.by_trace_id.load(Ordering::SeqCst) {
                    true => trace_id.to_bytes()[15].is_multiple_of(2),
                    false => self.sample.load(Ordering::SeqCst),
                };
                match sample {
                    true => SamplingDecision::RecordAndSample,
                    false => SamplingDecision::Drop,
                }
            }
        };
        SamplingResult {
            decision,
            attributes: vec![],
            trace_state: Default::default(),
        }
    }
}

/// What the handler saw: the trace id for an error body, the `traceparent` it would send on,
/// the same from a task it spawned.
async fn report() -> String {
    // A span of the handler's own work: under the SERVER span, or under no span at all.
    tracing::info_span!("work").in_scope(|| tracing::info!("working"));
    let mut headers = http::HeaderMap::new();
    http_client::inject(&spans::context(&tracing::Span::current()), &mut headers);
    let spawned = tokio::spawn(spans::instrument(
        async {
            tracing::info_span!("spawned").in_scope(|| tracing::info!("spawned work"));
            propagation::current_trace_id()
        },
        tracing::Span::current(),
    ))
    .await
    .unwrap();
    let sent = headers
        .get("traceparent")
        .map(|v| v.to_str().unwrap().to_owned());
    format!(
        "{} {} {}",
        propagation::current_trace_id().unwrap_or_default(),
        sent.unwrap_or_default(),
        spawned.unwrap_or_default()
    )
}

async fn fetch(app: &Router, traceparent: Option<String>) -> (String, String) {
    let mut request = Request::get("/items/1");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (traceresponse, String::from_utf8(body.to_vec()).unwrap())
}

fn spans(provider: &SdkTracerProvider, exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    exporter.reset();
    spans
}

#[tokio::test]
async fn unsampled_work_makes_no_span_and_passes_its_context_on() {
    propagation::install_propagators();
    let roots = Roots::default();
    spans::set_root_sampler(Some(Box::new(roots.clone())));
    spans::set_sampling(spans::Sampling::FollowsParent);
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(HopSampler(Box::new(roots.clone())))
        .with_id_generator(HopIds)
        .with_span_processor(SimpleSpanProcessor::new(exporter.clone()))
        .build();
    let layer = bridge(provider.tracer("test")).with_filter(bridge_filter());
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let app = Router::new()
        .route("/items/{id}", get(report))
        .layer(ServerLayer::new());

    // A caller that does not sample: followed, with no span anywhere, its trace id everywhere.
    let (traceresponse, body) =
        fetch(&app, Some(format!("00-{CALLER_TRACE}-{CALLER_SPAN}-00"))).await;
    let [version, trace, span, flags] = traceresponse.split('-').collect::<Vec<_>>()[..] else {
        panic!("{traceresponse}");
    };
    assert_eq!((version, trace, flags), ("00", CALLER_TRACE, "00"));
    assert_ne!(span, CALLER_SPAN, "a span id of its own");
    let [seen, sent, spawned] = body.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{body}");
    };
    assert_eq!(seen, CALLER_TRACE);
    assert_eq!(spawned, CALLER_TRACE, "a spawned task keeps the context");
    assert_eq!(sent, format!("00-{CALLER_TRACE}-{span}-00"));
    assert!(spans(&provider, &exporter).is_empty());
    assert_eq!(
        roots.spans.swap(0, Ordering::SeqCst),
        0,
        "no span was even built"
    );

    // A caller that samples: the SERVER span and the spans under it, the caller's children.
    let (traceresponse, body) =
        fetch(&app, Some(format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))).await;
    assert!(traceresponse.ends_with("-01"), "{traceresponse}");
    assert!(body.starts_with(CALLER_TRACE), "{body}");
    let exported = spans(&provider, &exporter);
    assert_eq!(roots.asked.load(Ordering::SeqCst), 0, "the caller decided");
    roots.spans.store(0, Ordering::SeqCst);
    let mut names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, ["GET /items/{id}", "spawned", "work"]);
    let server = exported.iter().find(|s| s.span_kind == SpanKind::Server);
    assert_eq!(
        server.unwrap().parent_span_id.to_string(),
        CALLER_SPAN,
        "{exported:?}"
    );

    // A root the sampler drops: asked once, before any span; a trace id all the same.
    let (traceresponse, body) = fetch(&app, None).await;
    assert_eq!(roots.asked.swap(0, Ordering::SeqCst), 1);
    assert_eq!(
        roots.spans.swap(0, Ordering::SeqCst),
        1,
        "no span was built"
    );
    assert!(traceresponse.ends_with("-00"), "{traceresponse}");
    let trace = traceresponse.split('-').nth(1).unwrap();
    assert_ne!(trace, "0".repeat(32));
    assert!(body.starts_with(trace), "{body}");
    assert!(spans(&provider, &exporter).is_empty());

    // A root the sampler keeps: asked once (the SDK takes the hop's answer), and recorded.
    roots.sample.store(true, Ordering::SeqCst);
    let (traceresponse, _) = fetch(&app, None).await;
    assert_eq!(roots.asked.swap(0, Ordering::SeqCst), 1);
    // The root once (by the hop; the SDK took its answer), and each of the two children.
    assert_eq!(roots.spans.swap(0, Ordering::SeqCst), 3);
    assert!(traceresponse.ends_with("-01"), "{traceresponse}");
    let exported = spans(&provider, &exporter);
    assert_eq!(exported.len(), 3, "{exported:?}");
    let server = exported
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .unwrap();
    assert_eq!(server.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    assert_eq!(
        server.span_context.trace_id().to_string(),
        traceresponse.split('-').nth(1).unwrap()
    );

    // A sampler that decides by trace id decides by the one the trace gets, kept or dropped: any
    // other sampler reading that id at the same ratio agrees.
    roots.by_trace_id.store(true, Ordering::SeqCst);
    let mut kept = 0;
    for _ in 0..32 {
        let (traceresponse, _) = fetch(&app, None).await;
        let [_, trace, _, flags] = traceresponse.split('-').collect::<Vec<_>>()[..] else {
            panic!("{traceresponse}");
        };
        let last = u8::from_str_radix(&trace[30..], 16).unwrap();
        assert_eq!(flags == "01", last.is_multiple_of(2), "{traceresponse}");
        kept += usize::from(flags == "01");
    }
    let exported = spans(&provider, &exporter);
    let servers = exported.iter().filter(|s| s.span_kind == SpanKind::Server);
    assert_eq!(servers.count(), kept);
    assert!(
        exported
            .iter()
            .all(|s| s.span_context.trace_id().to_bytes()[15].is_multiple_of(2))
    );
}
