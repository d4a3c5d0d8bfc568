//! The payments table.

use contracts::payment::PaymentStatus;
use shared_tracing::db;
use sqlx::SqlitePool;

/// One payment attempt as stored.
pub(crate) struct NewPayment<'a> {
    pub(crate) id: &'a str,
    pub(crate) order_id: &'a str,
    pub(crate) amount_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) card_last4: &'a str,
    pub(crate) status: PaymentStatus,
    pub(crate) decline_reason: Option<&'a str>,
}

/// Stores the attempt; `false` when the order already has a payment (a void got there first, or
/// the same charge was sent twice), which is then left as it is.
pub(crate) async fn insert_payment(pool: &SqlitePool, p: &NewPayment<'_>) -> sqlx::Result<bool> {
    let insert = sqlx::query(
        "INSERT INTO payments (id, order_id, amount_cents, currency, card_last4, status, decline_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.amount_cents)
    .bind(p.currency)
    .bind(p.card_last4)
    .bind(p.status.as_str())
    .bind(p.decline_reason)
    .execute(pool);
    let done = db::query("INSERT", "payments", insert).await?;
    Ok(done.rows_affected() == 1)
}

/// The order's payment: its id, status and decline reason.
pub(crate) async fn by_order(
    pool: &SqlitePool,
    order_id: &str,
) -> sqlx::Result<Option<(String, PaymentStatus, Option<String>)>> {
    let select = sqlx::query_as::<_, (String, String, Option<String>)>(
        "SELECT id, status, decline_reason FROM payments WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(pool);
    let Some((id, status, reason)) = db::query("SELECT", "payments", select).await? else {
        return Ok(None);
    };
    let status = status
        .parse()
        .map_err(|error: String| sqlx::Error::Decode(error.into()))?;
    Ok(Some((id, status, reason)))
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
    let status = by_order(pool, order_id).await?.map(|(_, status, _)| status);
    Ok(status.unwrap_or(PaymentStatus::Voided))
}
