//! HTTP handlers and their router.

use crate::{
    AppState, Error, Result,
    clients::Charge,
    relay::ORDER_CREATED_SUBJECT,
    store::{self, NewEvent, NewOrder},
};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::{ClientError, Json, Path};
use shared_tracing::messaging;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", post(create_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/internal/orders/{id}/fulfilled", post(fulfil_order))
        .route("/healthz", get(healthz))
}

/// One order line, as sent to inventory-service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    pub(crate) sku: String,
    pub(crate) quantity: i64,
}

/// An order request. Deliberately not `Debug`: it holds the full card number.
#[derive(Deserialize)]
pub(crate) struct OrderRequest {
    items: Vec<Item>,
    card_number: String,
    #[serde(default = "default_currency")]
    currency: String,
}

fn default_currency() -> String {
    "USD".to_owned()
}

#[derive(Serialize)]
pub(crate) struct OrderCreated {
    order_id: String,
    status: &'static str,
    total: f64,
}

fn bearer(headers: &HeaderMap) -> Result<&str> {
    service_kit::bearer::token(headers)
        .ok_or_else(|| Error::Unauthorized("missing bearer token".into()))
}

/// `POST /api/orders`. The work runs in a task of its own: hyper drops a handler whose caller
/// hangs up (a gateway timeout, a closed curl), and a dropped handler would leave stock held and
/// a card charged with no order. The task finishes what it started — release on failure, persist
/// on success — under the request's span, which ends when the work does.
async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<OrderRequest>,
) -> Result<(StatusCode, Json<OrderCreated>)> {
    let work = place_order(state, headers, request).instrument(tracing::Span::current());
    match tokio::spawn(work).await {
        Ok(result) => result,
        // Nothing aborts the task, so only a panic ends it early; re-raised here, the server
        // layer answers 500 for it as for any handler's panic.
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

async fn place_order(
    state: AppState,
    headers: HeaderMap,
    request: OrderRequest,
) -> Result<(StatusCode, Json<OrderCreated>)> {
    let user = state.auth.verify(bearer(&headers)?).await?;
    if request.items.is_empty() {
        return Err(Error::InvalidOrder("items must not be empty".into()));
    }
    let card_digits: String = request
        .card_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let card_last4 = &card_digits[card_digits.len().saturating_sub(4)..];

    let order_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    span.set_attribute("user_id", user.user_id);

    let customer = state.users.profile(user.user_id).await?;
    let reserved = state.inventory.reserve(&order_id, &request.items).await;
    if outcome_unknown(&reserved) {
        // The stock may be held although no answer came: release it by order id.
        let inventory = state.inventory.clone();
        let order = order_id.clone();
        crate::compensation::spawn(
            "inventory_client.release_for_order",
            order_id.clone(),
            &span,
            move || {
                let (inventory, order) = (inventory.clone(), order.clone());
                async move { inventory.release_for_order(&order).await }
            },
        );
    }
    let reservation = reserved?;
    let total_cents = (reservation.total * 100.0).round() as i64;
    let charge = Charge {
        order_id: &order_id,
        amount: reservation.total,
        currency: &request.currency,
        card_number: &request.card_number,
    };
    let charged = state.payment.process(&charge).await;
    if outcome_unknown(&charged) {
        // The charge was sent and no answer came: it may have gone through. It is voided by
        // order id, so that no card stays charged for an order that is not placed — in the
        // background, retried until payment-service answers, traced under this request.
        let (payment, order) = (state.payment.clone(), order_id.clone());
        crate::compensation::spawn("payment_client.void", order_id.clone(), &span, move || {
            let (payment, order) = (payment.clone(), order.clone());
            async move { payment.void(&order).await }
        });
    }
    if charged.is_err() {
        // Whatever went wrong with the charge, the held stock goes back on sale.
        state.inventory.release(&reservation.reservation_id).await;
    }
    // A declined order is kept (the customer may ask about it); other failures leave no order.
    let status = match charged {
        Ok(_) => "confirmed",
        Err(Error::PaymentDeclined { .. }) => "payment_declined",
        Err(error) => return Err(error),
    };
    let lines = lines(&request.items);
    // Only a confirmed order is announced; the event carries this request's trace context.
    let event = (status == "confirmed").then(|| {
        let payload = json!({
            "event_type": ORDER_CREATED,
            "order_id": order_id,
            "user_id": user.user_id,
            "reservation_id": reservation.reservation_id,
            "items": lines.iter().map(|(sku, quantity)| json!({ "sku": sku, "quantity": quantity })).collect::<Vec<_>>(),
            "total": reservation.total,
            "currency": request.currency,
        });
        let trace_context = messaging::context_to_map(&span.context());
        (payload.to_string(), serde_json::to_string(&trace_context).expect("a string map always serialises"))
    });
    store::insert_order(
        &state.db,
        &NewOrder {
            id: &order_id,
            user_id: user.user_id,
            status,
            total_cents,
            currency: &request.currency,
            reservation_id: &reservation.reservation_id,
            payment_id: charged.as_ref().ok().map(|p| p.payment_id.as_str()),
            card_last4,
            receipt_email: &customer.email,
            lines: &lines,
        },
        event
            .as_ref()
            .map(|(payload, trace_context)| NewEvent {
                message_id: &order_id,
                subject: ORDER_CREATED_SUBJECT,
                event_type: ORDER_CREATED,
                payload,
                trace_context,
            })
            .as_ref(),
    )
    .await?;
    charged?;
    state.relay.wake();
    tracing::info!(order_id, total_cents, "order confirmed");
    Ok((
        StatusCode::CREATED,
        Json(OrderCreated {
            order_id,
            status: "confirmed",
            total: crate::to_amount(total_cents),
        }),
    ))
}

/// Whether a charge may have gone through although no answer came: the call timed out, or the
/// connection broke after it was made (a refused connection never reached payment-service).
fn outcome_unknown<T>(charged: &Result<T>) -> bool {
    match charged {
        Err(Error::Upstream(ClientError::Timeout { .. })) => true,
        Err(Error::Upstream(ClientError::Unavailable { source, .. })) => !source.is_connect(),
        _ => false,
    }
}

/// The `event_type` of the event a confirmed order publishes.
const ORDER_CREATED: &str = "order.created";

/// The order's lines with one entry per SKU, as stored.
fn lines(items: &[Item]) -> Vec<(String, i64)> {
    let mut merged = std::collections::BTreeMap::<String, i64>::new();
    for item in items {
        *merged.entry(item.sku.clone()).or_default() += item.quantity;
    }
    merged.into_iter().collect()
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    tracing::Span::current().set_attribute("order_id", id.clone());
    let user = state.auth.verify(bearer(&headers)?).await?;
    // Another customer's order answers as a missing one would: a 403 would tell that it exists.
    let order = store::order(&state.db, &id)
        .await?
        .filter(|order| order.user_id == user.user_id)
        .ok_or(Error::NotFound)?;
    let items: Vec<Value> = store::order_lines(&state.db, &order.id)
        .await?
        .into_iter()
        .map(|line| json!({ "sku": line.sku, "quantity": line.quantity }))
        .collect();
    Ok(Json(json!({
        "order_id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "total": crate::to_amount(order.total_cents),
        "currency": order.currency,
        "items": items,
        "created_at": order.created_at,
    })))
}

/// Called by inventory-service once the order's stock is sold.
async fn fulfil_order(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    tracing::Span::current().set_attribute("order_id", id.clone());
    match store::mark_fulfilled(&state.db, &id).await?.as_deref() {
        Some("fulfilled") => Ok(StatusCode::NO_CONTENT),
        Some(status) => Err(Error::WrongState(format!(
            "a {status} order cannot be fulfilled"
        ))),
        None => Err(Error::NotFound),
    }
}

/// Health, and each downstream's circuit state (visible without a trace).
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    service_kit::db::ping(&state.db).await?;
    let circuits: serde_json::Map<String, Value> = state
        .downstreams()
        .iter()
        .filter_map(|d| Some((d.service().to_owned(), d.circuit_state()?.as_str().into())))
        .collect();
    Ok(Json(
        json!({ "status": "ok", "service": crate::SERVICE_NAME, "circuits": circuits }),
    ))
}
