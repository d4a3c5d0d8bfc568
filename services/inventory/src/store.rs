//! Products, reservations and their items: all SQL of the service, one CLIENT span per query.

use crate::Error;
use service_kit::db::begin_write;
use shared_tracing::db;
use sqlx::{FromRow, SqlitePool};

/// A catalogue entry with its stock levels.
#[derive(Debug, FromRow)]
pub(crate) struct Product {
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) price_cents: i64,
    pub(crate) available: i64,
    pub(crate) reserved: i64,
    pub(crate) sold: i64,
}

/// Raises every product's `available` stock to at least `stock` (`SEED_STOCK`).
pub(crate) async fn stock_at_least(pool: &SqlitePool, stock: i64) -> sqlx::Result<()> {
    let update = sqlx::query("UPDATE products SET available = max(available, ?)")
        .bind(stock)
        .execute(pool);
    db::query("UPDATE", "products", update).await.map(|_| ())
}

pub(crate) async fn product(pool: &SqlitePool, sku: &str) -> sqlx::Result<Option<Product>> {
    let select = sqlx::query_as(
        "SELECT sku, name, price_cents, available, reserved, sold FROM products WHERE sku = ?",
    )
    .bind(sku)
    .fetch_optional(pool);
    db::query("SELECT", "products", select).await
}

/// A reservation made, or found: a repeat of the request that made it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reserved {
    /// Held now: the total in cents.
    Held(i64),
    /// Held by an earlier request with the same `Idempotency-Key` and the same lines: its id and
    /// total.
    Replayed(String, i64),
}

/// Holds `items` for `order_id` in one transaction. Fails with `Conflict` when any line is short
/// (nothing is held then) or the order already has a reservation — unless that one was made by
/// a request with the same `key`: then it is the answer (`Replayed`), or `KeyReused` when the
/// lines differ. `trace_context` (a JSON map, W3C fields) is kept for the expiry's span.
pub(crate) async fn reserve(
    pool: &SqlitePool,
    reservation_id: &str,
    order_id: &str,
    items: &[(String, i64)],
    trace_context: &str,
    key: Option<&str>,
) -> Result<Reserved, Error> {
    let mut tx = begin_write(pool).await?;
    let existing = sqlx::query_as::<_, (String, String, i64, Option<String>)>(
        "SELECT id, status, total_cents, idempotency_key FROM reservations WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(&mut *tx);
    if let Some((id, status, total, stored_key)) =
        db::query("SELECT", "reservations", existing).await?
    {
        let repeat = key.is_some() && stored_key.as_deref() == key && status != "released";
        if !repeat {
            return Err(Error::Conflict(format!(
                "order {order_id} already holds a reservation"
            )));
        }
        let held = sqlx::query_as::<_, (String, i64)>(
            "SELECT sku, quantity FROM reservation_items WHERE reservation_id = ? ORDER BY sku",
        )
        .bind(&id)
        .fetch_all(&mut *tx);
        if db::query("SELECT", "reservation_items", held).await? != items {
            return Err(Error::KeyReused);
        }
        return Ok(Reserved::Replayed(id, total));
    }
    let mut total = 0;
    let mut lines = Vec::with_capacity(items.len());
    for (sku, quantity) in items {
        let hold = sqlx::query_scalar::<_, i64>(
            "UPDATE products SET available = available - ?1, reserved = reserved + ?1
             WHERE sku = ?2 AND available >= ?1 RETURNING price_cents",
        )
        .bind(quantity)
        .bind(sku)
        .fetch_optional(&mut *tx);
        let Some(price_cents) = db::query("UPDATE", "products", hold).await? else {
            // Dropping `tx` rolls back the lines already held.
            let known =
                sqlx::query_scalar::<_, i64>("SELECT available FROM products WHERE sku = ?")
                    .bind(sku)
                    .fetch_optional(&mut *tx);
            return Err(match db::query("SELECT", "products", known).await? {
                None => Error::UnknownSku(sku.clone()),
                Some(available) => Error::Conflict(format!(
                    "insufficient stock for {sku}: {quantity} requested, {available} available"
                )),
            });
        };
        total += price_cents * quantity;
        lines.push((sku, quantity, price_cents));
    }
    let insert = sqlx::query(
        "INSERT INTO reservations (id, order_id, status, total_cents, trace_context,
                                   idempotency_key)
         VALUES (?, ?, 'held', ?, ?, ?)",
    )
    .bind(reservation_id)
    .bind(order_id)
    .bind(total)
    .bind(trace_context)
    .bind(key)
    .execute(&mut *tx);
    db::query("INSERT", "reservations", insert).await?;
    for (sku, quantity, price_cents) in lines {
        let insert = sqlx::query(
            "INSERT INTO reservation_items (reservation_id, sku, quantity, price_cents)
             VALUES (?, ?, ?, ?)",
        )
        .bind(reservation_id)
        .bind(sku)
        .bind(quantity)
        .bind(price_cents)
        .execute(&mut *tx);
        db::query("INSERT", "reservation_items", insert).await?;
    }
    tx.commit().await?;
    Ok(Reserved::Held(total))
}

/// What releasing a reservation found: its stock went back on sale, it had been released
/// before, or the order was fulfilled and its stock is sold.
pub(crate) use contracts::inventory::ReleaseOutcome as Release;

/// Releases whatever `order_id` holds, for an order-service that does not know whether its
/// reserve call went through: a held reservation goes back on sale; where there is none yet, a
/// released one with no items is recorded, so a reserve still on its way for that order is
/// refused (the order already has a reservation).
pub(crate) async fn release_for_order(
    pool: &SqlitePool,
    order_id: &str,
    tombstone_id: &str,
) -> Result<Release, Error> {
    let mut tx = begin_write(pool).await?;
    let found = sqlx::query_scalar::<_, String>("SELECT id FROM reservations WHERE order_id = ?")
        .bind(order_id)
        .fetch_optional(&mut *tx);
    let outcome = match db::query("SELECT", "reservations", found).await? {
        Some(reservation_id) => release_in(&mut tx, &reservation_id).await?,
        None => {
            let tombstone = sqlx::query(
                "INSERT INTO reservations (id, order_id, status, total_cents)
                 VALUES (?, ?, 'released', 0)",
            )
            .bind(tombstone_id)
            .bind(order_id)
            .execute(&mut *tx);
            db::query("INSERT", "reservations", tombstone).await?;
            Release::Released
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Returns the held stock of a reservation to `available`, once.
pub(crate) async fn release(pool: &SqlitePool, reservation_id: &str) -> Result<Release, Error> {
    let mut tx = begin_write(pool).await?;
    let outcome = release_in(&mut tx, reservation_id).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn release_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    reservation_id: &str,
) -> Result<Release, Error> {
    let status = sqlx::query_scalar::<_, String>("SELECT status FROM reservations WHERE id = ?")
        .bind(reservation_id)
        .fetch_optional(&mut **tx);
    match db::query("SELECT", "reservations", status)
        .await?
        .as_deref()
    {
        None => return Err(Error::ReservationNotFound),
        Some("released") => return Ok(Release::AlreadyReleased),
        Some("committed") => return Ok(Release::Committed),
        Some(_) => {}
    }
    let restore = sqlx::query(
        "UPDATE products SET available = available + i.quantity, reserved = reserved - i.quantity
         FROM reservation_items AS i WHERE i.reservation_id = ? AND products.sku = i.sku",
    )
    .bind(reservation_id)
    .execute(&mut **tx);
    db::query("UPDATE", "products", restore).await?;
    let mark = sqlx::query("UPDATE reservations SET status = 'released' WHERE id = ?")
        .bind(reservation_id)
        .execute(&mut **tx);
    db::query("UPDATE", "reservations", mark).await?;
    Ok(Release::Released)
}

/// What committing an order's reservation found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Held stock moved from reserved to sold.
    Committed,
    /// The reservation had expired (its stock was back on sale) and the stock was still there:
    /// sold from `available` instead.
    CommittedAfterExpiry,
    /// Done before (a redelivered event): nothing changed.
    AlreadyCommitted,
}

/// Moves the stock held for `order_id` from reserved to sold, once: the event consumer's unit of
/// work, idempotent by order id. Returns the reservation, which must be `reservation_id` when the
/// event names one. A reservation that expired before the event came (the broker was
/// down longer than `RESERVATION_TTL_MS`) is sold from `available` if the stock is still there;
/// if not, the event fails with `Conflict` (and ends in the dead-letter subject).
pub(crate) async fn commit_reservation(
    pool: &SqlitePool,
    order_id: &str,
    reservation_id: Option<&str>,
) -> Result<(Commit, String), Error> {
    let named = reservation_id;
    let mut tx = begin_write(pool).await?;
    let found = sqlx::query_as::<_, (String, String, Option<String>)>(
        "SELECT id, status, expired_at FROM reservations WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(&mut *tx);
    let (reservation_id, status, expired_at) = db::query("SELECT", "reservations", found)
        .await?
        .ok_or(Error::ReservationNotFound)?;
    if let Some(named) = named.filter(|named| *named != reservation_id) {
        return Err(Error::Conflict(format!(
            "the event names reservation {named}; order {order_id} holds {reservation_id}"
        )));
    }
    let outcome = match (status.as_str(), expired_at) {
        ("committed", _) => return Ok((Commit::AlreadyCommitted, reservation_id)),
        ("released", None) => {
            return Err(Error::Conflict(format!(
                "reservation {reservation_id} was released"
            )));
        }
        ("released", Some(_)) => {
            sell_again(&mut tx, &reservation_id).await?;
            Commit::CommittedAfterExpiry
        }
        _ => {
            let sell = sqlx::query(
                "UPDATE products SET reserved = reserved - i.quantity, sold = sold + i.quantity
                 FROM reservation_items AS i WHERE i.reservation_id = ? AND products.sku = i.sku",
            )
            .bind(&reservation_id)
            .execute(&mut *tx);
            db::query("UPDATE", "products", sell).await?;
            Commit::Committed
        }
    };
    let mark = sqlx::query("UPDATE reservations SET status = 'committed' WHERE id = ?")
        .bind(&reservation_id)
        .execute(&mut *tx);
    db::query("UPDATE", "reservations", mark).await?;
    tx.commit().await?;
    Ok((outcome, reservation_id))
}

/// Sells an expired reservation's items from `available`, all or none (dropping `tx` on an
/// error rolls back the lines already taken).
async fn sell_again(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    reservation_id: &str,
) -> Result<(), Error> {
    let items = sqlx::query_as::<_, (String, i64)>(
        "SELECT sku, quantity FROM reservation_items WHERE reservation_id = ?",
    )
    .bind(reservation_id)
    .fetch_all(&mut **tx);
    for (sku, quantity) in db::query("SELECT", "reservation_items", items).await? {
        let sell = sqlx::query(
            "UPDATE products SET available = available - ?1, sold = sold + ?1
             WHERE sku = ?2 AND available >= ?1",
        )
        .bind(quantity)
        .bind(&sku)
        .execute(&mut **tx);
        if db::query("UPDATE", "products", sell).await?.rows_affected() == 0 {
            return Err(Error::Conflict(format!(
                "reservation {reservation_id} expired and {sku} is sold out"
            )));
        }
    }
    Ok(())
}

/// A reservation held for longer than the TTL.
#[derive(Debug, FromRow)]
pub(crate) struct Overdue {
    pub(crate) id: String,
    pub(crate) order_id: String,
    pub(crate) created_at: String,
    pub(crate) trace_context: Option<String>,
}

/// Reservations held for longer than `ttl`, oldest first. Not traced: the expiry sweep polls it,
/// and an idle poll is noise.
pub(crate) async fn overdue(
    pool: &SqlitePool,
    ttl: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<Overdue>> {
    sqlx::query_as(
        "SELECT id, order_id, created_at, trace_context FROM reservations
         WHERE status = 'held'
           AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
         ORDER BY created_at LIMIT ?",
    )
    .bind(format!("-{:.3} seconds", ttl.as_secs_f64()))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Releases an overdue reservation and marks it expired, unless it was committed or released
/// in the meantime (then nothing changes and `false` is returned).
pub(crate) async fn expire(pool: &SqlitePool, reservation_id: &str) -> Result<bool, Error> {
    let mut tx = begin_write(pool).await?;
    if release_in(&mut tx, reservation_id).await? != Release::Released {
        return Ok(false);
    }
    let mark = sqlx::query(
        "UPDATE reservations SET expired_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
    )
    .bind(reservation_id)
    .execute(&mut *tx);
    db::query("UPDATE", "reservations", mark).await?;
    tx.commit().await?;
    Ok(true)
}
