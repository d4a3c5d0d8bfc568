//! The orders and order_items tables.

use crate::compensation::{self, Outcome};
use contracts::order::{Line, OrderStatus};
use service_kit::db::begin_write;
use shared_tracing::db;
use sqlx::{FromRow, SqlitePool};

/// An order as stored.
#[derive(Debug)]
pub(crate) struct Order {
    pub(crate) id: String,
    pub(crate) user_id: i64,
    pub(crate) status: OrderStatus,
    pub(crate) total_cents: i64,
    pub(crate) currency: String,
    pub(crate) created_at: String,
}

/// An order row, its status as the text stored.
#[derive(FromRow)]
struct OrderRow {
    id: String,
    user_id: i64,
    status: String,
    total_cents: i64,
    currency: String,
    created_at: String,
}

/// A status read back from the table (its CHECK constraint allows only the known ones).
fn status(raw: &str) -> sqlx::Result<OrderStatus> {
    raw.parse()
        .map_err(|error: String| sqlx::Error::Decode(error.into()))
}

/// An order about to be stored.
pub(crate) struct NewOrder<'a> {
    pub(crate) id: &'a str,
    pub(crate) user_id: i64,
    pub(crate) status: OrderStatus,
    pub(crate) total_cents: i64,
    pub(crate) currency: &'a str,
    pub(crate) reservation_id: &'a str,
    pub(crate) payment_id: Option<&'a str>,
    pub(crate) card_last4: &'a str,
    pub(crate) receipt_email: &'a str,
    pub(crate) lines: &'a [Line],
}

/// An event to publish once the order is committed.
pub(crate) struct NewEvent<'a> {
    pub(crate) message_id: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) trace_context: &'a str,
}

/// An outbox row waiting to be published.
#[derive(Debug, FromRow)]
pub(crate) struct PendingEvent {
    pub(crate) id: i64,
    pub(crate) message_id: String,
    pub(crate) subject: String,
    pub(crate) event_type: String,
    pub(crate) payload: String,
    pub(crate) trace_context: String,
    pub(crate) attempts: i64,
}

/// Stores an order, its lines and (for a confirmed order) its event in one transaction, which
/// settles the order's compensations with `undo`.
pub(crate) async fn insert_order(
    pool: &SqlitePool,
    order: &NewOrder<'_>,
    event: Option<&NewEvent<'_>>,
    undo: Outcome,
) -> sqlx::Result<()> {
    let mut tx = begin_write(pool).await?;
    let insert = sqlx::query(
        "INSERT INTO orders (id, user_id, status, total_cents, currency, reservation_id, payment_id,
                             card_last4, receipt_email)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(order.id)
    .bind(order.user_id)
    .bind(order.status.as_str())
    .bind(order.total_cents)
    .bind(order.currency)
    .bind(order.reservation_id)
    .bind(order.payment_id)
    .bind(order.card_last4)
    .bind(order.receipt_email)
    .execute(&mut *tx);
    db::query("INSERT", "orders", insert).await?;
    for line in order.lines {
        let insert =
            sqlx::query("INSERT INTO order_items (order_id, sku, quantity) VALUES (?, ?, ?)")
                .bind(order.id)
                .bind(&line.sku)
                .bind(line.quantity)
                .execute(&mut *tx);
        db::query("INSERT", "order_items", insert).await?;
    }
    if let Some(event) = event {
        let insert = sqlx::query(
            "INSERT INTO outbox (message_id, subject, event_type, payload, trace_context)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(event.message_id)
        .bind(event.subject)
        .bind(event.event_type)
        .bind(event.payload)
        .bind(event.trace_context)
        .execute(&mut *tx);
        db::query("INSERT", "outbox", insert).await?;
    }
    compensation::settle_in(&mut tx, order.id, undo).await?;
    tx.commit().await
}

/// Marks a confirmed order fulfilled (idempotent). `None` when there is no such order, the
/// order's status otherwise.
pub(crate) async fn mark_fulfilled(
    pool: &SqlitePool,
    id: &str,
) -> sqlx::Result<Option<OrderStatus>> {
    let update = sqlx::query_scalar::<_, String>(
        "UPDATE orders SET status = 'fulfilled' WHERE id = ? AND status IN ('confirmed', 'fulfilled')
         RETURNING status",
    )
    .bind(id)
    .fetch_optional(pool);
    if let Some(updated) = db::query("UPDATE", "orders", update).await? {
        return status(&updated).map(Some);
    }
    let select = sqlx::query_scalar::<_, String>("SELECT status FROM orders WHERE id = ?")
        .bind(id)
        .fetch_optional(pool);
    db::query("SELECT", "orders", select)
        .await?
        .map(|stored| status(&stored))
        .transpose()
}

/// The oldest unpublished events. Not traced: the relay polls it, and an idle poll is noise.
pub(crate) async fn pending_events(
    pool: &SqlitePool,
    limit: i64,
) -> sqlx::Result<Vec<PendingEvent>> {
    sqlx::query_as(
        "SELECT id, message_id, subject, event_type, payload, trace_context, attempts
         FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub(crate) async fn mark_published(pool: &SqlitePool, id: i64) -> sqlx::Result<()> {
    let update = sqlx::query(
        "UPDATE outbox SET published_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), attempts = attempts + 1
         WHERE id = ?",
    )
    .bind(id)
    .execute(pool);
    db::query("UPDATE", "outbox", update).await.map(|_| ())
}

pub(crate) async fn record_publish_failure(
    pool: &SqlitePool,
    id: i64,
    error: &str,
) -> sqlx::Result<()> {
    let update =
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?")
            .bind(error)
            .bind(id)
            .execute(pool);
    db::query("UPDATE", "outbox", update).await.map(|_| ())
}

pub(crate) async fn order(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<Order>> {
    let select = sqlx::query_as::<_, OrderRow>(
        "SELECT id, user_id, status, total_cents, currency, created_at FROM orders WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool);
    let Some(row) = db::query("SELECT", "orders", select).await? else {
        return Ok(None);
    };
    Ok(Some(Order {
        status: status(&row.status)?,
        id: row.id,
        user_id: row.user_id,
        total_cents: row.total_cents,
        currency: row.currency,
        created_at: row.created_at,
    }))
}

pub(crate) async fn order_lines(pool: &SqlitePool, order_id: &str) -> sqlx::Result<Vec<Line>> {
    let select = sqlx::query_as::<_, (String, i64)>(
        "SELECT sku, quantity FROM order_items WHERE order_id = ? ORDER BY sku",
    )
    .bind(order_id)
    .fetch_all(pool);
    let rows = db::query("SELECT", "order_items", select).await?;
    Ok(rows
        .into_iter()
        .map(|(sku, quantity)| Line { sku, quantity })
        .collect())
}
