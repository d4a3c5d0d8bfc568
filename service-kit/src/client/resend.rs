//! When a downstream call that got no answer is sent again: only when the connection is to
//! blame, after 50, 100 and 200 ms — about what a service takes to restart.

use super::ClientError;
use std::time::Duration;

/// The pauses before each resend: 350 ms in all. Each attempt is its own CLIENT span with
/// `http.request.resend_count` (the HTTP semantic conventions' rule), and the breaker learns
/// only the call's final outcome.
pub(crate) const DELAYS: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(200),
];

/// Whether a call that got no answer may be sent again: when no connection could be made
/// (refused, no such host), for any method, since nothing was sent; and when the connection
/// closed before an answer came — a kept-alive connection the callee closed as it began to shut
/// down, say — only for an idempotent request: an idempotent method (RFC 9110 §9.2.2,
/// `Method::is_idempotent`), or one carrying an [`IDEMPOTENCY_KEY`](super::IDEMPOTENCY_KEY),
/// which its callee answers, when repeated, as it answered the first. Never after a timeout,
/// which already took its time.
pub(crate) fn resendable<T>(result: &Result<T, ClientError>, idempotent: bool) -> bool {
    let Err(ClientError::Unavailable { source, .. }) = result else {
        return false;
    };
    !source.is_timeout() && (source.is_connect() || (idempotent && source.is_request()))
}
