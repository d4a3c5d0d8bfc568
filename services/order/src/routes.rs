//! HTTP handlers and their router.

use crate::{
    AppState, Error, Result,
    compensation::{Outcome, Settle},
    store::{self, NewEvent, NewOrder},
};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use contracts::{
    events::OrderCreated,
    inventory::Reservation,
    money,
    order::{Line, Order, OrderPlaced, OrderRequest, OrderStatus},
    payment::{CaptureError, Charge, ChargeError, PaymentResponse},
};
use service_kit::{
    Access, Health, Json, Path,
    events::{self, Event},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Who may call each route ([`service_kit::identity::guard`]): orders come through the gateway,
/// with the user's token.
pub(crate) const ACCESS: &[Access] = &[
    Access::only("/api/orders", &[GATEWAY]),
    Access::only("/api/orders/{id}", &[GATEWAY]),
    Access::anyone("/healthz"),
];

const GATEWAY: &str = contracts::gateway::SERVICE_NAME;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/orders", post(create_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/healthz", get(healthz))
}

fn bearer(headers: &HeaderMap) -> Result<&str> {
    service_kit::bearer::token(headers)
        .ok_or_else(|| Error::Unauthorized("missing bearer token".into()))
}

/// `POST /api/orders`. The work runs to its end whether or not the caller waits
/// ([`service_kit::server::to_completion`]): a dropped handler would leave stock held and a card
/// charged with no order. It finishes what it started — release on failure, persist on success —
/// under the request's span, which ends when the work does.
async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<OrderRequest>,
) -> Result<(StatusCode, Json<OrderPlaced>)> {
    service_kit::server::to_completion(place_order(state, headers, request)).await
}

/// An order's steps: who is ordering, hold the stock, charge the card, capture the charge, store
/// the order with its event. The undo of each step that may take effect — release the stock,
/// void the charge — is armed in the database before the steps run and settled by the order's
/// outcome ([`crate::compensation`]), so that it happens even if this process dies half-way.
async fn place_order(
    state: AppState,
    headers: HeaderMap,
    request: OrderRequest,
) -> Result<(StatusCode, Json<OrderPlaced>)> {
    let user = state.auth.verify(bearer(&headers)?).await?;
    if request.items.is_empty() {
        return Err(Error::InvalidOrder("items must not be empty".into()));
    }
    if money::currency(&request.currency).is_none() {
        return Err(Error::InvalidOrder(money::CURRENCY_RULE.into()));
    }
    let order_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    span.set_attribute("user_id", user.user_id);

    let customer = state.users.profile(user.user_id).await?;
    let _in_flight = state.compensations.begin(&order_id);
    state.compensations.arm(&order_id, &span).await?;

    let reservation = match state.inventory.reserve(&order_id, &request.items).await {
        Ok(reservation) => reservation,
        Err(error) => {
            // Stock may be held when no answer came: released by order id.
            let error = Error::from(error);
            let release_stock = if error.outcome_unknown() {
                Settle::Due
            } else {
                Settle::Disarm
            };
            let undo = Outcome {
                release_stock,
                void_payment: Settle::Disarm,
            };
            return Err(settled(&state, &order_id, undo, error).await);
        }
    };
    let charged = charge_card(&state, &order_id, &reservation, &request).await;
    let (payment_id, declined) = match charged {
        Ok(payment) => match state.payment.capture(&order_id).await {
            Ok(_) => (Some(payment.payment_id), None),
            // The charge waited too long and was given back: the order fails, nothing charged.
            Err(CaptureError::Voided) => {
                let undo = Outcome {
                    release_stock: release(&state, &reservation).await,
                    void_payment: Settle::Disarm,
                };
                let error = Error::PaymentVoided {
                    order_id: order_id.clone(),
                };
                return Err(settled(&state, &order_id, undo, error).await);
            }
            // Captured or not, no one knows: the charge is voided, the stock released.
            Err(CaptureError::Upstream(error)) => {
                let undo = Outcome {
                    release_stock: release(&state, &reservation).await,
                    void_payment: Settle::Due,
                };
                return Err(settled(&state, &order_id, undo, error.into()).await);
            }
        },
        // A declined order is kept (the customer may ask about it).
        Err(declined @ Error::PaymentDeclined { .. }) => (None, Some(declined)),
        // Other failures leave no order; a charge whose answer never came may have gone through.
        Err(error) => {
            let void_payment = if error.outcome_unknown() {
                Settle::Due
            } else {
                Settle::Disarm
            };
            let undo = Outcome {
                release_stock: release(&state, &reservation).await,
                void_payment,
            };
            return Err(settled(&state, &order_id, undo, error).await);
        }
    };
    let (status, undo) = match payment_id {
        Some(_) => (OrderStatus::Confirmed, Outcome::NOTHING),
        None => {
            let undo = Outcome {
                release_stock: release(&state, &reservation).await,
                void_payment: Settle::Disarm,
            };
            (OrderStatus::PaymentDeclined, undo)
        }
    };
    let card_last4 = last4(&request.card_number);
    let lines = lines(&request.items);
    let order = NewOrder {
        id: &order_id,
        user_id: user.user_id,
        status,
        total_cents: reservation.total_cents,
        currency: &request.currency,
        reservation_id: &reservation.reservation_id,
        payment_id: payment_id.as_deref(),
        card_last4: &card_last4,
        receipt_email: &customer.email,
        lines: &lines,
    };
    // Should the order not be stored, its intents stay armed: the worker undoes both once this
    // request's work has ended.
    store_order(&state, &order, undo).await?;
    if let Some(declined) = declined {
        return Err(declined);
    }
    tracing::info!(
        order_id,
        total_cents = reservation.total_cents,
        "order confirmed"
    );
    Ok((
        StatusCode::CREATED,
        Json(OrderPlaced::confirmed(order_id, reservation.total_cents)),
    ))
}

/// Settles the order's compensations with `undo` and returns `error`, the order's failure. A
/// settlement that fails leaves them armed, which the worker then carries out.
async fn settled(state: &AppState, order_id: &str, undo: Outcome, error: Error) -> Error {
    if let Err(failed) = state.compensations.settle(order_id, undo).await {
        tracing::error!(error = %failed, "settling the compensations failed: left to the worker");
    }
    error
}

/// Gives the reservation's stock back now; when that does not get through, the stock is
/// released by order id later.
async fn release(state: &AppState, reservation: &Reservation) -> Settle {
    if state.inventory.release(&reservation.reservation_id).await {
        Settle::Done
    } else {
        Settle::Due
    }
}

/// Charges the card for the reservation's total.
async fn charge_card(
    state: &AppState,
    order_id: &str,
    reservation: &Reservation,
    request: &OrderRequest,
) -> Result<PaymentResponse> {
    let charge = Charge {
        order_id,
        amount_cents: reservation.total_cents,
        currency: &request.currency,
        card_number: &request.card_number,
    };
    state
        .payment
        .charge(&charge)
        .await
        .map_err(|error| match error {
            ChargeError::Declined { reason } => Error::PaymentDeclined {
                reason,
                order_id: order_id.to_owned(),
            },
            ChargeError::Invalid(message) => Error::InvalidOrder(message),
            ChargeError::Upstream(error) => Error::Upstream(error),
        })
}

/// Stores the order and, for a confirmed one, its `order.created` event, in one transaction (the
/// outbox) that also settles its compensations with `undo`; the event carries this request's
/// trace context, and the relay publishes it.
async fn store_order(state: &AppState, order: &NewOrder<'_>, undo: Outcome) -> Result<()> {
    let confirmed = order.status == OrderStatus::Confirmed;
    let payload = confirmed.then(|| {
        let event = OrderCreated {
            order_id: order.id.to_owned(),
            user_id: order.user_id,
            reservation_id: Some(order.reservation_id.to_owned()),
            items: order.lines.to_vec(),
            total_cents: order.total_cents,
            total: money::decimal(order.total_cents),
            currency: order.currency.to_owned(),
        };
        String::from_utf8(events::payload(&event)).expect("JSON is UTF-8")
    });
    let trace_context = shared_tracing::stored::capture(&tracing::Span::current());
    let outbox = payload.as_deref().map(|payload| NewEvent {
        message_id: order.id,
        subject: OrderCreated::SUBJECT,
        event_type: OrderCreated::TYPE,
        payload,
        trace_context: &trace_context,
    });
    store::insert_order(&state.db, order, outbox.as_ref(), undo).await?;
    if confirmed {
        state.relay.wake();
    }
    Ok(())
}

/// The last four digits of a card number, for the stored order.
fn last4(card_number: &str) -> String {
    let digits: Vec<char> = card_number.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

/// The order's lines with one entry per SKU, as stored.
fn lines(items: &[Line]) -> Vec<Line> {
    let mut merged = std::collections::BTreeMap::<String, i64>::new();
    for item in items {
        *merged.entry(item.sku.clone()).or_default() += item.quantity;
    }
    merged
        .into_iter()
        .map(|(sku, quantity)| Line { sku, quantity })
        .collect()
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Order>> {
    tracing::Span::current().set_attribute("order_id", id.clone());
    let user = state.auth.verify(bearer(&headers)?).await?;
    // Another customer's order answers as a missing one would: a 403 would tell that it exists.
    let order = store::order(&state.db, &id)
        .await?
        .filter(|order| order.user_id == user.user_id)
        .ok_or(Error::NotFound)?;
    let items = store::order_lines(&state.db, &order.id).await?;
    Ok(Json(Order {
        order_id: order.id,
        user_id: order.user_id,
        status: order.status,
        total: money::decimal(order.total_cents),
        total_cents: order.total_cents,
        currency: order.currency,
        items,
        created_at: order.created_at,
    }))
}

/// Health, and each downstream's circuit state (visible without a trace).
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(Health::with_circuits(
        crate::SERVICE_NAME,
        state.downstreams(),
    )))
}
