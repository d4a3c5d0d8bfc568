//! Span status and parents, set the same way everywhere: a failed span, an exception event, and a
//! parent given to a span right after it is made — and the context of work that is not sampled,
//! which runs under its OpenTelemetry context attached rather than under bridged spans.

use futures_util::future::Either;
use opentelemetry::{
    Context,
    context::FutureExt,
    trace::{SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, SamplingResult, ShouldSample,
};
use std::{
    cell::Cell,
    fmt::Display,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU8, Ordering},
    },
};
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Marks `span` failed: `otel.status_code = error` and a low-cardinality `error.type`. The span
/// must declare both fields (as `Empty`) for the records to land.
pub fn mark_failed(span: &Span, error_type: &str) {
    span.record("otel.status_code", "error");
    span.record("error.type", error_type);
}

/// [`mark_failed`], plus an `exception` event with `exception.type` and `exception.message`.
pub fn record_exception(span: &Span, error_type: &str, message: &dyn Display) {
    mark_failed(span, error_type);
    span.in_scope(|| {
        tracing::error!(exception.type = error_type, exception.message = %message, "exception");
    });
}

/// Makes `parent` the parent of `span`, which must have just been created: the bridge refuses a
/// parent once the span has started (or its context was read). An empty `parent` leaves a root.
pub fn continue_from(span: &Span, parent: Context) {
    let _ = span.set_parent(parent);
}

/// `span`'s context as the parent of work that outlives it (a retry in the background): its span
/// context alone, without its baggage, so a fault a request asked for does not follow the work,
/// and the request's span is not held open by it.
pub fn detached(span: &Span) -> Context {
    let span_context = context(span).span().span_context().clone();
    Context::new().with_remote_span_context(span_context)
}

/// How this process's sampler decides, as far as the hops need to know: whether a span whose
/// parent is not sampled is never sampled either, and whether roots are ever sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Each span decides for itself (`always_on`, `traceidratio`, `jaeger_remote`), or the
    /// sampler is not known: every span goes through the bridge.
    Independent,
    /// A span follows its parent; roots are decided by the sampler (`parentbased_*`).
    FollowsParent,
    /// A span follows its parent; no root is sampled (`parentbased_always_off`).
    FollowsParentNoRoots,
    /// Nothing is sampled (`always_off`).
    Never,
    /// There is no SDK (`OTEL_SDK_DISABLED=true`): no trace is read, made or passed on.
    Disabled,
}

static SAMPLING: AtomicU8 = AtomicU8::new(0);

/// Tells the hops how the sampler decides; `telemetry::init` calls it. Until it is called (a test
/// with a provider of its own), every span goes through the bridge.
pub fn set_sampling(sampling: Sampling) {
    SAMPLING.store(sampling as u8, Ordering::Relaxed);
}

/// What [`set_sampling`] was told.
pub fn sampling() -> Sampling {
    match SAMPLING.load(Ordering::Relaxed) {
        1 => Sampling::FollowsParent,
        2 => Sampling::FollowsParentNoRoots,
        3 => Sampling::Never,
        4 => Sampling::Disabled,
        _ => Sampling::Independent,
    }
}

/// The sampler the provider asks about roots, for the hops to ask first ([`DecidedRoot`]).
static ROOT_SAMPLER: RwLock<Option<Box<dyn ShouldSample>>> = RwLock::new(None);

/// Gives the hops the provider's sampler, to decide a root before its span is made;
/// `telemetry::init` calls it. The provider must honour [`DecidedRoot`].
pub fn set_root_sampler(sampler: Option<Box<dyn ShouldSample>>) {
    *ROOT_SAMPLER.write().unwrap_or_else(PoisonError::into_inner) = sampler;
}

/// A root's sampling decision, taken by a hop before it made the span (or, when the answer is
/// no, instead of making it) for the trace id it drew, carried to the SDK in the span's parent
/// context. The provider `telemetry::init` builds honours both: its sampler returns the result
/// instead of asking again (a rate limit's token is taken once), and its id generator gives the
/// span that trace id ([`start_decided`]), so a ratio decided here is the ratio any other sampler
/// reading the trace id computes.
#[derive(Debug, Clone)]
pub struct DecidedRoot {
    /// The sampler's answer.
    pub result: SamplingResult,
    /// The trace id it was asked about.
    pub trace_id: TraceId,
}

thread_local! {
    /// The trace id of the decided root being started on this thread, for the id generator.
    static DECIDED_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The decision a hop took for a root whose parent context is `parent`, if it took one.
pub fn decided_root(parent: Option<&Context>) -> Option<&SamplingResult> {
    let parent = parent?;
    if parent.span().span_context().is_valid() {
        return None;
    }
    parent.get::<DecidedRoot>().map(|decided| &decided.result)
}

/// Starts `span`, just given `parent` as its parent, now: when `parent` carries a
/// [`DecidedRoot`], the SDK draws its trace id from [`decided_trace_id`] while it does.
pub fn start_decided(span: &Span, parent: &Context) {
    let Some(decided) = parent.get::<DecidedRoot>() else {
        return;
    };
    DECIDED_TRACE_ID.set(Some(decided.trace_id));
    // Reading the context is what makes the bridge start the span.
    let _ = span.context();
    DECIDED_TRACE_ID.set(None);
}

/// The trace id of the decided root being started on this thread, once (see [`start_decided`]):
/// what an id generator for the kit's hops returns before drawing one of its own.
pub fn decided_trace_id() -> Option<TraceId> {
    DECIDED_TRACE_ID.take()
}

/// Decides a root span named `name` of `kind` with the root sampler, if one was given, for a
/// trace id drawn here: `None` when there is no sampler, else the context to make the span under
/// — `Some(Ok)`, carrying the [`DecidedRoot`] — or, when the root is not sampled, `Some(Err)`
/// with the context to run the work under instead (as [`unsampled_child`] of `parent`, in that
/// trace).
pub fn decide_root(
    parent: &Context,
    name: &str,
    kind: SpanKind,
) -> Option<Result<Context, Context>> {
    let sampler = ROOT_SAMPLER.read().unwrap_or_else(PoisonError::into_inner);
    let trace_id = RandomIdGenerator::default().new_trace_id();
    let result = sampler
        .as_ref()?
        .should_sample(Some(parent), trace_id, name, &kind, &[], &[]);
    Some(match result.decision {
        SamplingDecision::Drop => Err(unsampled_in(parent, trace_id, TraceState::default())),
        _ => Ok(parent.with_value(DecidedRoot { result, trace_id })),
    })
}

/// Whether an unsampled context is attached to the work running now. Work that is not sampled
/// runs under its context attached (`opentelemetry::Context::current()`) instead of under
/// bridged spans: the bridge builds a span (and copies its fields) before it knows the sampler's
/// answer, for every span, so the hops decide first and leave it out of work nobody records.
pub(crate) fn unsampled_attached() -> bool {
    Context::map_current(is_unsampled)
}

/// Whether `cx` holds a valid span context that is not sampled.
fn is_unsampled(cx: &Context) -> bool {
    let span = cx.span();
    let span_context = span.span_context();
    span_context.is_valid() && !span_context.is_sampled()
}

/// Whether a hop makes a span here: not without an SDK, and not in work that is not sampled
/// (which has no spans, only its context attached). A hop that makes none still passes on the
/// context and logs what it would have recorded as an event.
pub fn makes_spans() -> bool {
    sampling() != Sampling::Disabled && !unsampled_attached()
}

/// The context of `span`: the bridge's, or, for work that is not sampled (which the bridge
/// never sees), the unsampled context attached to it. Read contexts through this, not the
/// bridge's `span.context()`: that one is empty for unsampled work. Under an unsampled context
/// every span is that work's, so a span meant to start or continue another trace (a new root, a
/// stored row's context) must be made outside it — in its own task, as the relay and the
/// consumers do.
pub fn context(span: &Span) -> Context {
    if unsampled_attached() {
        return Context::current();
    }
    span.context()
}

/// A context for a span this process does not sample, child of `parent` (a new trace when
/// `parent` has none): a span id of its own, the parent's trace id, trace state and baggage —
/// what the SDK gives a span it drops — without building a span.
pub fn unsampled_child(parent: &Context) -> Context {
    let span = parent.span();
    let parent_span = span.span_context();
    match parent_span.is_valid() {
        true => unsampled_in(
            parent,
            parent_span.trace_id(),
            parent_span.trace_state().clone(),
        ),
        false => unsampled_in(
            parent,
            RandomIdGenerator::default().new_trace_id(),
            TraceState::default(),
        ),
    }
}

/// `parent` (its baggage and values) with an unsampled span of trace `trace_id`.
fn unsampled_in(parent: &Context, trace_id: TraceId, trace_state: TraceState) -> Context {
    let span_id = RandomIdGenerator::default().new_span_id();
    let span_context =
        SpanContext::new(trace_id, span_id, TraceFlags::default(), false, trace_state);
    parent.with_remote_span_context(span_context)
}

/// `future` inside `span` (as `tracing::Instrument`), and, when `span`'s trace is not sampled
/// and the sampler follows parents, under its context attached, so the spans made under it skip
/// the bridge. For work that runs apart from the request that made its span: a spawned task, a
/// consumed message.
pub fn instrument<F: Future>(future: F, span: Span) -> impl Future<Output = F::Output> {
    let unsampled = match sampling() {
        Sampling::Independent | Sampling::Disabled => None,
        _ => Some(context(&span)).filter(is_unsampled),
    };
    let future = future.instrument(span);
    match unsampled {
        Some(cx) => Either::Left(future.with_context(cx)),
        None => Either::Right(future),
    }
}
