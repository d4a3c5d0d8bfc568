//! Held reservations expire: stock held for an order that never confirmed it — its
//! order-service died mid-order, or could not reach this service to release it — goes back on
//! sale after `RESERVATION_TTL_MS`.
//!
//! Each expiry is an INTERNAL span `inventory.expire_reservation` in the order's trace (its parent
//! is the reserve call's context, stored with the reservation), with a `reservation_expired`
//! event. The sweep that finds them is not traced: it runs every few seconds.

use crate::store::{self, Overdue};
use sqlx::SqlitePool;
use std::time::Duration;
use tracing::Instrument;

/// Reservations expired per sweep at most; the rest wait for the next one.
const BATCH: i64 = 100;

/// Sweeps for overdue reservations every quarter of `ttl` (between 100 ms and 30 s) until the
/// process ends.
pub(crate) async fn run(db: SqlitePool, ttl: Duration) {
    let period = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store::overdue(&db, ttl, BATCH).await {
            Ok(overdue) => {
                for reservation in overdue {
                    expire(&db, &reservation, ttl).await;
                }
            }
            Err(error) => tracing::warn!(%error, "reservation expiry sweep failed"),
        }
    }
}

async fn expire(db: &SqlitePool, reservation: &Overdue, ttl: Duration) {
    let span = tracing::info_span!(
        parent: None,
        "inventory.expire_reservation",
        order_id = reservation.order_id.as_str(),
        reservation_id = reservation.id.as_str(),
        reservation.held_since = reservation.created_at.as_str(),
        reservation.ttl_ms = ttl.as_millis() as i64,
    );
    if let Some(stored) = &reservation.trace_context {
        // A stored value that is not a context leaves the expiry a root of its own.
        let _ = shared_tracing::stored::continue_from(&span, stored);
    }
    async {
        match store::expire(db, &reservation.id).await {
            Ok(true) => tracing::warn!(
                order_id = reservation.order_id.as_str(),
                "reservation_expired"
            ),
            Ok(false) => tracing::info!("confirmed or released meanwhile: nothing to expire"),
            Err(error) => tracing::error!(%error, "expiring the reservation failed"),
        }
    }
    .instrument(span)
    .await;
}
