//! Compensations for calls whose outcome is unknown — the call was sent and no answer came, so
//! it may have taken effect (a card charged, stock held). Each is retried with backoff (capped at
//! 10 s) until the callee answers, for as long as the process runs, in the background, every
//! attempt a span of its own in the order's trace. The
//! parent is the request's span context without its baggage: a fault injected into the request
//! does not follow its compensation, and the request's span is not held open by the retries.

use service_kit::ClientError;
use std::time::Duration;
use tracing::{Instrument, field::Empty};

/// Runs `attempt` until it succeeds (its `Ok` is the outcome, recorded on the span); each attempt
/// is a span `name` under `request`'s span context.
pub(crate) fn spawn<F, Fut>(
    name: &'static str,
    order_id: String,
    request: &tracing::Span,
    attempt: F,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<&'static str, ClientError>> + Send,
{
    let parent = shared_tracing::spans::detached(request);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        for number in 1u64.. {
            let span = tracing::info_span!(
                "compensation",
                otel.name = name,
                order_id = order_id.as_str(),
                attempt = number,
                outcome = Empty,
            );
            shared_tracing::spans::continue_from(&span, parent.clone());
            match attempt().instrument(span.clone()).await {
                Ok(outcome) => {
                    span.record("outcome", outcome);
                    span.in_scope(|| tracing::warn!(order_id, outcome, "compensated"));
                    return;
                }
                Err(error) => span.in_scope(|| {
                    tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "compensation failed")
                }),
            }
            // The attempt's span ends here, not after the wait: exported with its children.
            drop(span);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
}
