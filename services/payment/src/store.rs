//! The payments table.

use shared_tracing::db;
use sqlx::SqlitePool;

/// One payment attempt as stored.
pub(crate) struct NewPayment<'a> {
    pub(crate) id: &'a str,
    pub(crate) order_id: &'a str,
    pub(crate) amount_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) card_last4: &'a str,
    pub(crate) status: &'a str,
    pub(crate) decline_reason: Option<&'a str>,
}

pub(crate) async fn insert_payment(pool: &SqlitePool, p: &NewPayment<'_>) -> sqlx::Result<()> {
    let insert = sqlx::query(
        "INSERT INTO payments (id, order_id, amount_cents, currency, card_last4, status, decline_reason)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id)
    .bind(p.order_id)
    .bind(p.amount_cents)
    .bind(p.currency)
    .bind(p.card_last4)
    .bind(p.status)
    .bind(p.decline_reason)
    .execute(pool);
    db::query("INSERT", "payments", insert).await.map(|_| ())
}
