//! The payments table.

use contracts::payment::PaymentStatus;
use shared_tracing::db;
use sqlx::{FromRow, SqlitePool};
use std::time::Duration;

/// One payment attempt as stored.
pub(crate) struct NewPayment<'a> {
    pub(crate) id: &'a str,
    pub(crate) order_id: &'a str,
    pub(crate) amount_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) card_last4: &'a str,
    pub(crate) status: PaymentStatus,
    pub(crate) decline_reason: Option<&'a str>,
    /// The charge request's trace context ([`shared_tracing::stored`]).
    pub(crate) trace_context: &'a str,
    /// The charge request's `Idempotency-Key`.
    pub(crate) idempotency_key: Option<&'a str>,
}

/// Stores the attempt; `false` when the order already has a payment (a void got there first, or
/// the same charge was sent twice), which is then left as it is.
pub(crate) async fn insert_payment(pool: &SqlitePool, p: &NewPayment<'_>) -> sqlx::Result<bool> {
    let insert = sqlx::query(
        "INSERT INTO payments (id, order_id, amount_cents, currency, card_last4, status,
                               decline_reason, trace_context, idempotency_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.amount_cents)
    .bind(p.currency)
    .bind(p.card_last4)
    .bind(p.status.as_str())
    .bind(p.decline_reason)
    .bind(p.trace_context)
    .bind(p.idempotency_key)
    .execute(pool);
    let done = db::query("INSERT", "payments", insert).await?;
    Ok(done.rows_affected() == 1)
}

/// An order's payment as stored.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) id: String,
    pub(crate) status: PaymentStatus,
    pub(crate) decline_reason: Option<String>,
    pub(crate) amount_cents: i64,
    pub(crate) currency: String,
    pub(crate) idempotency_key: Option<String>,
}

#[derive(FromRow)]
struct StoredRow {
    id: String,
    status: String,
    decline_reason: Option<String>,
    amount_cents: i64,
    currency: String,
    idempotency_key: Option<String>,
}

/// The order's payment, if it has one.
pub(crate) async fn by_order(pool: &SqlitePool, order_id: &str) -> sqlx::Result<Option<Stored>> {
    let select = sqlx::query_as::<_, StoredRow>(
        "SELECT id, status, decline_reason, amount_cents, currency, idempotency_key
         FROM payments WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(pool);
    let Some(row) = db::query("SELECT", "payments", select).await? else {
        return Ok(None);
    };
    Ok(Some(Stored {
        status: parse_status(&row.status)?,
        id: row.id,
        decline_reason: row.decline_reason,
        amount_cents: row.amount_cents,
        currency: row.currency,
        idempotency_key: row.idempotency_key,
    }))
}

fn parse_status(raw: &str) -> sqlx::Result<PaymentStatus> {
    raw.parse()
        .map_err(|error: String| sqlx::Error::Decode(error.into()))
}

/// Voids the order's payment: an approved one becomes `voided` (the charge is given back), and
/// where there is none yet a `voided` row is left so that a charge arriving later is refused.
/// Returns the status the order's payment ends with (`voided`, or `declined`/`failed`, which
/// charged nothing).
pub(crate) async fn void(
    pool: &SqlitePool,
    order_id: &str,
    id: &str,
) -> sqlx::Result<PaymentStatus> {
    let upsert = sqlx::query(
        "INSERT INTO payments (id, order_id, amount_cents, currency, card_last4, status)
         VALUES (?, ?, 0, '', '', 'voided')
         ON CONFLICT (order_id) DO UPDATE SET status = 'voided' WHERE status = 'approved'",
    )
    .bind(id)
    .bind(order_id)
    .execute(pool);
    db::query("UPSERT", "payments", upsert).await?;
    let status = by_order(pool, order_id).await?.map(|stored| stored.status);
    Ok(status.unwrap_or(PaymentStatus::Voided))
}

/// What a capture found.
pub(crate) enum Capture {
    /// The approved charge is captured now (or was already): its payment id.
    Kept(String),
    /// It had been approved longer than the capture window and is voided now.
    Expired,
    /// The order's payment is not an approved one: its status, or `None` when there is none.
    NotApproved(Option<PaymentStatus>),
}

/// The SQLite time `window` ago, as `strftime`'s modifier.
fn ago(window: Duration) -> String {
    format!("-{:.3} seconds", window.as_secs_f64())
}

/// Captures the order's approved charge, in one statement: one approved within `window` (or
/// captured before) is captured, one approved longer ago and never captured is voided instead —
/// whichever of this and the expiry comes first decides, and the other finds it decided.
pub(crate) async fn capture(
    pool: &SqlitePool,
    order_id: &str,
    window: Duration,
) -> sqlx::Result<Capture> {
    let update = sqlx::query_as::<_, (String, String)>(
        "UPDATE payments SET
             status = CASE
                 WHEN captured_at IS NULL AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
                 THEN 'voided' ELSE status END,
             captured_at = CASE
                 WHEN captured_at IS NULL AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)
                 THEN NULL
                 ELSE COALESCE(captured_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) END
         WHERE order_id = ?2 AND status = 'approved'
         RETURNING id, status",
    )
    .bind(ago(window))
    .bind(order_id)
    .fetch_optional(pool);
    match db::query("UPDATE", "payments", update).await? {
        Some((id, status)) if parse_status(&status)? == PaymentStatus::Approved => {
            Ok(Capture::Kept(id))
        }
        Some(_) => Ok(Capture::Expired),
        None => {
            let status = by_order(pool, order_id).await?.map(|stored| stored.status);
            Ok(Capture::NotApproved(status))
        }
    }
}

/// An approved charge no order captured within the window.
#[derive(Debug, FromRow)]
pub(crate) struct Uncaptured {
    pub(crate) id: String,
    pub(crate) order_id: String,
    pub(crate) amount_cents: i64,
    pub(crate) created_at: String,
    pub(crate) trace_context: Option<String>,
}

/// The oldest approved charges not captured within `window`. Not traced: the expiry polls it.
pub(crate) async fn uncaptured(
    pool: &SqlitePool,
    window: Duration,
    limit: i64,
) -> sqlx::Result<Vec<Uncaptured>> {
    sqlx::query_as(
        "SELECT id, order_id, amount_cents, created_at, trace_context FROM payments
         WHERE status = 'approved' AND captured_at IS NULL
           AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
         ORDER BY created_at LIMIT ?",
    )
    .bind(ago(window))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Voids an uncaptured approved charge; `false` when it was captured or voided meanwhile.
pub(crate) async fn expire(pool: &SqlitePool, payment_id: &str) -> sqlx::Result<bool> {
    let update = sqlx::query(
        "UPDATE payments SET status = 'voided'
         WHERE id = ? AND status = 'approved' AND captured_at IS NULL",
    )
    .bind(payment_id)
    .execute(pool);
    Ok(db::query("UPDATE", "payments", update)
        .await?
        .rows_affected()
        == 1)
}
