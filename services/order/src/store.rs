//! The orders and order_items tables.

use shared_tracing::db;
use sqlx::{FromRow, SqlitePool};

/// An order as stored.
#[derive(Debug, FromRow)]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) status: String,
    pub(crate) total_cents: i64,
    pub(crate) currency: String,
    pub(crate) created_at: String,
}

/// One line of an order.
#[derive(Debug, FromRow)]
pub(crate) struct OrderLine {
    pub(crate) sku: String,
    pub(crate) quantity: i64,
}

/// An order about to be stored.
pub(crate) struct NewOrder<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: i64,
    pub(crate) status: &'a str,
    pub(crate) total_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) reservation_id: &'a str,
    pub(crate) payment_id: Option<&'a str>,
    pub(crate) card_last4: &'a str,
    pub(crate) receipt_email: &'a str,
    pub(crate) lines: &'a [(String, i64)],
}

/// Stores an order and its lines in one transaction.
pub(crate) async fn insert_order(pool: &SqlitePool, order: &NewOrder<'_>) -> sqlx::Result<()> {
    let mut tx = db::begin_write(pool).await?;
    let insert = sqlx::query(
        "INSERT INTO orders (id, user_id, status, total_cents, currency, reservation_id, payment_id,
                             card_last4, receipt_email)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(order.id)
    .bind(order.user_id)
    .bind(order.status)
    .bind(order.total_cents)
    .bind(order.currency)
    .bind(order.reservation_id)
    .bind(order.payment_id)
    .bind(order.card_last4)
    .bind(order.receipt_email)
    .execute(&mut *tx);
    db::query("INSERT", "orders", insert).await?;
    for (sku, quantity) in order.lines {
        let insert =
            sqlx::query("INSERT INTO order_items (order_id, sku, quantity) VALUES (?, ?, ?)")
                .bind(order.id)
                .bind(sku)
                .bind(quantity)
                .execute(&mut *tx);
        db::query("INSERT", "order_items", insert).await?;
    }
    tx.commit().await
}

pub(crate) async fn order(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<Order>> {
    let select = sqlx::query_as(
        "SELECT id, user_id, status, total_cents, currency, created_at FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool);
    db::query("SELECT", "orders", select).await
}

pub(crate) async fn order_lines(pool: &SqlitePool, order_id: &str) -> sqlx::Result<Vec<OrderLine>> {
    let select =
        sqlx::query_as("SELECT sku, quantity FROM order_items WHERE order_id = ? ORDER BY sku")
            .bind(order_id)
            .fetch_all(pool);
    db::query("SELECT", "order_items", select).await
}

pub(crate) async fn ping(pool: &SqlitePool) -> sqlx::Result<()> {
    db::query(
        "SELECT",
        "sqlite_schema",
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .map(|_| ())
}
