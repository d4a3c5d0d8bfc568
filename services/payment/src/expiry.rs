//! Uncaptured charges expire: an approved charge that no order captured within
//! `PAYMENT_CAPTURE_TTL_MS` — its order-service died mid-order, or never got a void through — is
//! voided by this service itself, as inventory-service puts held stock back on sale.
//!
//! Each expiry is an INTERNAL span `payment.expire_authorization` in the order's trace (its
//! parent is the charge request's context, stored with the payment), with an
//! `authorization_expired` event. The sweep that finds them is not traced: it runs every few
//! seconds.

use crate::store::{self, Uncaptured};
use sqlx::SqlitePool;
use std::time::Duration;
use tracing::Instrument;

/// Charges expired per sweep at most; the rest wait for the next one.
const BATCH: i64 = 100;

/// Sweeps for uncaptured charges every quarter of `window` (between 100 ms and 30 s) until the
/// process ends.
pub(crate) async fn run(db: SqlitePool, window: Duration) {
    let period = (window / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store::uncaptured(&db, window, BATCH).await {
            Ok(overdue) => {
                for payment in overdue {
                    expire(&db, &payment, window).await;
                }
            }
            Err(error) => tracing::warn!(%error, "authorization expiry sweep failed"),
        }
    }
}

async fn expire(db: &SqlitePool, payment: &Uncaptured, window: Duration) {
    let span = tracing::info_span!(
        parent: None,
        "payment.expire_authorization",
        order_id = payment.order_id.as_str(),
        payment_id = payment.id.as_str(),
        amount_cents = payment.amount_cents,
        payment.approved_at = payment.created_at.as_str(),
        payment.capture_ttl_ms = window.as_millis() as i64,
    );
    if let Some(stored) = &payment.trace_context {
        // A stored value that is not a context leaves the expiry a root of its own.
        let _ = shared_tracing::stored::continue_from(&span, stored);
    }
    async {
        match store::expire(db, &payment.id).await {
            Ok(true) => tracing::warn!(
                order_id = payment.order_id.as_str(),
                payment_id = payment.id.as_str(),
                "authorization_expired"
            ),
            Ok(false) => tracing::info!("captured or voided meanwhile: nothing to expire"),
            Err(error) => tracing::error!(%error, "expiring the authorization failed"),
        }
    }
    .instrument(span)
    .await;
}
