//! HTTP handlers and their router.

use crate::{AppState, Error, Result, store};
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::{Json, Path};
use shared_tracing::messaging;
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The most of one SKU a single reservation may hold.
const MAX_QUANTITY: i64 = 1_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/stock/{sku}", get(get_stock))
        .route("/api/reservations", post(create_reservation))
        .route("/api/reservations/{id}", delete(delete_reservation))
        // Internal (order-service's compensation), not routed by the gateway.
        .route(
            "/internal/orders/{order_id}/reservation/release",
            post(release_for_order),
        )
        .route("/healthz", get(healthz))
}

#[derive(Serialize)]
pub(crate) struct Stock {
    sku: String,
    name: String,
    price: f64,
    available: i64,
    reserved: i64,
    sold: i64,
}

async fn get_stock(State(state): State<AppState>, Path(sku): Path<String>) -> Result<Json<Stock>> {
    tracing::Span::current().set_attribute("sku", sku.clone());
    let product = store::product(&state.db, &sku)
        .await?
        .ok_or(Error::UnknownSku(sku))?;
    Ok(Json(Stock {
        price: crate::to_amount(product.price_cents),
        sku: product.sku,
        name: product.name,
        available: product.available,
        reserved: product.reserved,
        sold: product.sold,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReservationRequest {
    order_id: String,
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Item {
    sku: String,
    quantity: i64,
}

#[derive(Serialize)]
pub(crate) struct Reservation {
    reservation_id: String,
    total: f64,
    /// The same in cents, for services that keep money exact.
    total_cents: i64,
}

async fn create_reservation(
    State(state): State<AppState>,
    Json(request): Json<ReservationRequest>,
) -> Result<(StatusCode, Json<Reservation>)> {
    // The handler's attributes go on the request's SERVER span: one span per operation.
    let span = tracing::Span::current();
    span.set_attribute("order_id", request.order_id.clone());
    if request.order_id.trim().is_empty() {
        return Err(Error::BadRequest("order_id is required"));
    }
    if request.items.is_empty() {
        return Err(Error::BadRequest("items must not be empty"));
    }
    // One line per SKU, in a stable order (so concurrent reservations lock rows alike).
    let mut lines = BTreeMap::<String, i64>::new();
    for item in &request.items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(Error::BadRequest("quantity must be between 1 and 1000"));
        }
        *lines.entry(item.sku.clone()).or_default() += item.quantity;
    }
    let lines: Vec<(String, i64)> = lines.into_iter().collect();
    let skus = lines
        .iter()
        .map(|(sku, _)| sku.as_str())
        .collect::<Vec<_>>()
        .join(",");
    span.set_attribute("sku", skus);

    let reservation_id = uuid::Uuid::new_v4().to_string();
    let trace_context = messaging::context_to_json(&span.context());
    let total = store::reserve(
        &state.db,
        &reservation_id,
        &request.order_id,
        &lines,
        &trace_context,
    )
    .await?;
    span.set_attribute("reservation_id", reservation_id.clone());
    tracing::info!(reservation_id, total_cents = total, "stock reserved");
    Ok((
        StatusCode::CREATED,
        Json(Reservation {
            reservation_id,
            total: crate::to_amount(total),
            total_cents: total,
        }),
    ))
}

async fn delete_reservation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    tracing::Span::current().set_attribute("reservation_id", id.clone());
    match store::release(&state.db, &id).await? {
        store::Release::Released => tracing::info!("reservation released, stock returned"),
        store::Release::AlreadyReleased => tracing::info!("reservation was already released"),
        store::Release::Committed => {
            return Err(Error::Conflict(format!(
                "reservation {id} is committed: its stock is sold"
            )));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /internal/orders/{order_id}/reservation/release`: releases what the order holds, or
/// makes sure it can hold nothing later (for a reserve call whose answer never came).
async fn release_for_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Value>> {
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    let tombstone = uuid::Uuid::new_v4().to_string();
    let outcome = match store::release_for_order(&state.db, &order_id, &tombstone).await? {
        store::Release::Released => "released",
        store::Release::AlreadyReleased => "already_released",
        store::Release::Committed => "committed",
    };
    span.set_attribute("outcome", outcome);
    tracing::info!(order_id, outcome, "order's reservation released");
    Ok(Json(json!({ "order_id": order_id, "status": outcome })))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "service": crate::SERVICE_NAME }),
    ))
}
