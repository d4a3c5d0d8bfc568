//! HTTP handlers and their router.

use crate::{
    AppState, Error, Result,
    store::{self, Reserved},
};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{delete, get, post},
};
use contracts::{
    inventory::{OrderRelease, Reservation, ReservationRequest, Stock},
    money,
};
use service_kit::{Access, Health, Json, Path};
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The most of one SKU a single reservation may hold.
const MAX_QUANTITY: i64 = 1_000;

/// Who may call each route ([`service_kit::identity::guard`]): stock is read through the
/// gateway; reservations are order-service's alone.
pub(crate) const ACCESS: &[Access] = &[
    Access::only("/api/stock/{sku}", &[GATEWAY]),
    Access::only("/api/reservations", &[ORDER]),
    Access::only("/api/reservations/{id}", &[ORDER]),
    Access::only("/internal/orders/{order_id}/reservation/release", &[ORDER]),
    Access::anyone("/healthz"),
];

const GATEWAY: &str = contracts::gateway::SERVICE_NAME;
const ORDER: &str = contracts::order::SERVICE_NAME;

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

async fn get_stock(State(state): State<AppState>, Path(sku): Path<String>) -> Result<Json<Stock>> {
    tracing::Span::current().set_attribute("sku", sku.clone());
    let product = store::product(&state.db, &sku)
        .await?
        .ok_or(Error::UnknownSku(sku))?;
    Ok(Json(Stock {
        price: money::decimal(product.price_cents),
        price_cents: product.price_cents,
        sku: product.sku,
        name: product.name,
        available: product.available,
        reserved: product.reserved,
        sold: product.sold,
    }))
}

async fn create_reservation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<ReservationRequest>,
) -> Result<(StatusCode, Json<Reservation>)> {
    // The handler's attributes go on the request's SERVER span: one span per operation.
    let span = tracing::Span::current();
    let key = service_kit::idempotency::key(&headers);
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

    let new_id = uuid::Uuid::new_v4().to_string();
    let trace_context = shared_tracing::stored::capture(&span);
    let reserved = store::reserve(
        &state.db,
        &new_id,
        &request.order_id,
        &lines,
        &trace_context,
        key.as_deref(),
    )
    .await?;
    let (reservation_id, total) = match reserved {
        Reserved::Held(total) => {
            tracing::info!(
                reservation_id = new_id,
                total_cents = total,
                "stock reserved"
            );
            (new_id, total)
        }
        Reserved::Replayed(id, total) => {
            service_kit::idempotency::replayed(key.as_deref().unwrap_or_default());
            (id, total)
        }
    };
    span.set_attribute("reservation_id", reservation_id.clone());
    Ok((
        StatusCode::CREATED,
        Json(Reservation {
            reservation_id,
            total: money::decimal(total),
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
) -> Result<Json<OrderRelease>> {
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    let tombstone = uuid::Uuid::new_v4().to_string();
    let outcome = store::release_for_order(&state.db, &order_id, &tombstone).await?;
    span.set_attribute("outcome", outcome.as_str());
    tracing::info!(
        order_id,
        outcome = outcome.as_str(),
        "order's reservation released"
    );
    Ok(Json(OrderRelease {
        order_id,
        status: outcome,
    }))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(Health::ok(crate::SERVICE_NAME)))
}
