//! Compensations that survive a crash. Placing an order holds stock and charges a card before the
//! order exists; should it not be placed, both must be undone — also when order-service dies
//! half-way. So both undos are durable intents in this service's database (`compensations`):
//!
//! 1. [`Compensations::arm`] writes them, `armed`, before the first step they undo runs;
//! 2. the order's outcome settles them ([`Settle`]) — in the transaction that stores the order
//!    when there is one — `disarmed` when nothing is left to undo, `done` when undone inline, `due`
//!    when the step may have taken effect and no one knows;
//! 3. [`Compensations::run`] drains `due` ones, and `armed` ones whose order is no longer in
//!    progress in this process (it died with an earlier one), retrying with backoff (capped at
//!    10 s) until the callee answers.
//!
//! Both act by order id — void the order's payment, release whatever the order holds — and both
//! are idempotent at the callee, so an attempt repeated after a crash does nothing twice. Every
//! attempt is a span in the order's trace (its parent is the request's span context, stored with
//! the intent without the request's baggage: a fault injected into the request does not follow
//! its compensation).

use contracts::{inventory::InventoryClient, payment::PaymentClient};
use service_kit::{ClientError, db::begin_write};
use shared_tracing::{db, spans, stored};
use sqlx::{FromRow, Sqlite, SqlitePool};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::Notify;
use tracing::{Instrument, field::Empty};

/// Intents handled per round at most; the rest wait for the next one.
const BATCH: i64 = 100;
/// How often the worker looks when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What becomes of one armed intent when its order settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Nothing to undo: the step did not run, was refused, or the order stands.
    Disarm,
    /// Undone inline, with a definite answer.
    Done,
    /// The step may have taken effect: the worker undoes it.
    Due,
}

impl Settle {
    fn state(self) -> &'static str {
        match self {
            Self::Disarm => "disarmed",
            Self::Done => "done",
            Self::Due => "due",
        }
    }
}

/// The intents of one order, and their own outcome: what becomes of the stock hold and of the
/// charge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) release_stock: Settle,
    pub(crate) void_payment: Settle,
}

impl Outcome {
    /// The order is placed (or nothing ran): nothing to undo.
    pub(crate) const NOTHING: Self = Self {
        release_stock: Settle::Disarm,
        void_payment: Settle::Disarm,
    };
}

/// The durable compensations, and the worker that drains them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Compensations {
    db: SqlitePool,
    inventory: InventoryClient,
    payment: PaymentClient,
    wake: Arc<Notify>,
    /// Orders in progress in this process: their armed intents are theirs to settle.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// An order in progress; dropped when its request's work ends, panics included.
pub(crate) struct InFlight {
    compensations: Compensations,
    order_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.compensations.in_flight.lock();
        if let Ok(in_flight) = in_flight.as_mut() {
            in_flight.remove(&self.order_id);
        }
        self.compensations.wake.notify_one();
    }
}

/// An intent the worker is to carry out.
#[derive(Debug, FromRow)]
struct Open {
    id: i64,
    order_id: String,
    action: String,
    trace_context: String,
    attempts: i64,
}

impl Compensations {
    pub(crate) fn new(db: SqlitePool, inventory: InventoryClient, payment: PaymentClient) -> Self {
        Self {
            db,
            inventory,
            payment,
            wake: Arc::new(Notify::new()),
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Marks `order_id` in progress here until the returned guard is dropped.
    pub(crate) fn begin(&self, order_id: &str) -> InFlight {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(order_id.to_owned());
        }
        InFlight {
            compensations: self.clone(),
            order_id: order_id.to_owned(),
        }
    }

    /// Arms both intents of `order_id`, parented to `request`'s span context.
    pub(crate) async fn arm(&self, order_id: &str, request: &tracing::Span) -> sqlx::Result<()> {
        let trace_context = stored::to_json(&spans::detached(request));
        let insert = sqlx::query(
            "INSERT INTO compensations (order_id, action, state, trace_context)
             VALUES (?1, 'release_stock', 'armed', ?2), (?1, 'void_payment', 'armed', ?2)",
        )
        .bind(order_id)
        .bind(&trace_context)
        .execute(&self.db);
        db::query("INSERT", "compensations", insert)
            .await
            .map(|_| ())
    }

    /// Settles the order's armed intents when no order is stored; the worker is woken for any
    /// made due.
    pub(crate) async fn settle(&self, order_id: &str, outcome: Outcome) -> sqlx::Result<()> {
        let mut tx = begin_write(&self.db).await?;
        settle_in(&mut tx, order_id, outcome).await?;
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Drains the intents until the process ends.
    pub(crate) async fn run(self) {
        loop {
            match self.round().await {
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, "compensation round failed"),
            }
            let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
        }
    }

    /// One look at the table: every open intent whose time has come and whose order is not in
    /// progress here is attempted once.
    async fn round(&self) -> sqlx::Result<()> {
        // Not traced: the worker polls it, and an idle poll is noise.
        let open: Vec<Open> = sqlx::query_as(
            "SELECT id, order_id, action, trace_context, attempts FROM compensations
             WHERE state IN ('armed', 'due')
               AND next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             ORDER BY id LIMIT ?",
        )
        .bind(BATCH)
        .fetch_all(&self.db)
        .await?;
        for intent in open {
            let busy = self
                .in_flight
                .lock()
                .map(|in_flight| in_flight.contains(&intent.order_id))
                .unwrap_or(false);
            // Read again once the order is known not to be in progress: the list above may be
            // older than attempts that took seconds (a callee restarting), and meanwhile the
            // request that armed this intent may have placed its order and disarmed it. A request
            // settles before it leaves `in_flight`, so what is read here is its last word.
            if !busy && self.still_open(intent.id).await? {
                self.attempt(&intent).await?;
            }
        }
        Ok(())
    }

    /// Whether the intent is still armed or due.
    async fn still_open(&self, id: i64) -> sqlx::Result<bool> {
        let open: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM compensations WHERE id = ? AND state IN ('armed', 'due')",
        )
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        Ok(open.is_some())
    }

    /// One attempt, a span named for the call it makes, in the order's trace.
    async fn attempt(&self, intent: &Open) -> sqlx::Result<()> {
        let name = match intent.action.as_str() {
            "void_payment" => "payment_client.void",
            _ => "inventory_client.release_for_order",
        };
        let span = tracing::info_span!(
            parent: None,
            "compensation",
            otel.name = name,
            order_id = intent.order_id.as_str(),
            attempt = intent.attempts + 1,
            outcome = Empty,
        );
        // A stored value that is not a context leaves the attempt a root of its own.
        let _ = stored::continue_from(&span, &intent.trace_context);
        async {
            match self.call(intent).await {
                Ok(outcome) => {
                    tracing::Span::current().record("outcome", outcome);
                    tracing::warn!(order_id = intent.order_id.as_str(), outcome, "compensated");
                    let update = sqlx::query(
                        "UPDATE compensations SET state = 'done', outcome = ?,
                             attempts = attempts + 1,
                             done_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                         WHERE id = ?",
                    )
                    .bind(outcome)
                    .bind(intent.id)
                    .execute(&self.db);
                    db::query("UPDATE", "compensations", update)
                        .await
                        .map(|_| ())
                }
                Err(error) => {
                    let backoff = backoff(intent.attempts);
                    tracing::warn!(
                        %error,
                        retry_in_ms = backoff.as_millis() as u64,
                        "compensation failed"
                    );
                    let update = sqlx::query(
                        "UPDATE compensations SET state = 'due', attempts = attempts + 1,
                             last_error = ?,
                             next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
                         WHERE id = ?",
                    )
                    .bind(error.to_string())
                    .bind(format!("+{:.3} seconds", backoff.as_secs_f64()))
                    .bind(intent.id)
                    .execute(&self.db);
                    db::query("UPDATE", "compensations", update)
                        .await
                        .map(|_| ())
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn call(&self, intent: &Open) -> Result<&'static str, ClientError> {
        Ok(match intent.action.as_str() {
            "void_payment" => self.payment.void(&intent.order_id).await?.as_str(),
            _ => self
                .inventory
                .release_for_order(&intent.order_id)
                .await?
                .as_str(),
        })
    }
}

/// The wait after `attempts` failed attempts: 200 ms doubled each time, at most 10 s.
fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    MIN_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// Settles the order's armed intents inside `tx`: the order's own transaction when it is stored.
pub(crate) async fn settle_in(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    order_id: &str,
    outcome: Outcome,
) -> sqlx::Result<()> {
    let update = sqlx::query(
        "UPDATE compensations
         SET state = CASE action WHEN 'release_stock' THEN ?1 ELSE ?2 END,
             done_at = CASE WHEN (CASE action WHEN 'release_stock' THEN ?1 ELSE ?2 END) = 'due'
                            THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END
         WHERE order_id = ?3 AND state = 'armed'",
    )
    .bind(outcome.release_stock.state())
    .bind(outcome.void_payment.state())
    .bind(order_id)
    .execute(&mut **tx);
    db::query("UPDATE", "compensations", update)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_200_ms_up_to_10_s() {
        let waits: Vec<u128> = (0..8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert_eq!(backoff(i64::MAX), MAX_BACKOFF);
    }
}
