//! HTTP handlers and their router.

use crate::{
    AppState, Error, Result,
    processor::{self, Decision},
    store::{self, Capture, NewPayment},
};
use axum::{Router, extract::State, http::HeaderMap, routing::get, routing::post};
use contracts::payment::{
    CaptureResponse, PaymentRequest, PaymentResponse, PaymentStatus, VoidResponse,
};
use service_kit::{Access, Health, Json};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Who may call each route ([`service_kit::identity::guard`]): a charge, its capture and its
/// void are order-service's alone.
pub(crate) const ACCESS: &[Access] = &[
    Access::only("/api/payments", &[ORDER]),
    Access::only("/internal/payments/{order_id}/capture", &[ORDER]),
    Access::only("/internal/payments/{order_id}/void", &[ORDER]),
    Access::anyone("/healthz"),
];

const ORDER: &str = contracts::order::SERVICE_NAME;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/payments", post(create_payment))
        // Internal (order-service's confirmation and compensation), not routed by the gateway.
        .route(
            "/internal/payments/{order_id}/capture",
            post(capture_payment),
        )
        .route("/internal/payments/{order_id}/void", post(void_payment))
        .route("/healthz", get(healthz))
}

/// The amount in cents, if it is a positive one: `amount_cents`, else `amount` as a decimal.
fn cents(request: &PaymentRequest) -> Option<i64> {
    let cents = match (request.amount_cents, request.amount) {
        (Some(cents), _) => cents,
        (None, Some(amount)) => contracts::money::cents(amount)?,
        _ => return None,
    };
    (cents > 0).then_some(cents)
}

/// `POST /api/payments`. The charge runs to its end whether or not the caller waits
/// ([`service_kit::server::to_completion`]): a card processor, once asked, charges whether or
/// not anyone waits for the answer — so the charge is recorded either way, and its order-service voids it, or the capture
/// window runs out, if no order comes of it.
async fn create_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<PaymentRequest>,
) -> Result<Json<PaymentResponse>> {
    let key = service_kit::idempotency::key(&headers);
    service_kit::server::to_completion(charge(state, request, key)).await
}

async fn charge(
    state: AppState,
    request: PaymentRequest,
    key: Option<String>,
) -> Result<Json<PaymentResponse>> {
    // The handler's attributes go on the request's SERVER span: one span per operation.
    let span = tracing::Span::current();
    span.set_attribute("order_id", request.order_id.clone());
    if let Some(cents) = cents(&request) {
        span.set_attribute("amount_cents", cents);
    }
    span.set_attribute("currency", request.currency.clone());
    let card = processor::normalise_card(&request.card_number).ok_or(Error::BadRequest(
        "card_number must be 12-19 digits passing the Luhn check",
    ))?;
    let card_last4 = processor::last4(&card);
    span.set_attribute("card.last4", card_last4.to_owned());
    let amount_cents = cents(&request).ok_or(Error::BadRequest(
        "amount_cents (or amount) must be a positive number",
    ))?;
    if amount_cents > state.max_amount_cents {
        return Err(Error::TooLarge(state.max_amount_cents));
    }
    let currency = contracts::money::currency(&request.currency)
        .ok_or(Error::BadRequest(contracts::money::CURRENCY_RULE))?;

    // One payment per order: a repeat is answered as the first charge was, and the processor is
    // not asked again.
    if let Some(stored) = store::by_order(&state.db, &request.order_id).await? {
        return answer_repeat(stored, key.as_deref(), amount_cents, currency);
    }
    let payment_id = uuid::Uuid::new_v4().to_string();
    let decision = processor::decide(&card);
    if decision == Decision::SlowApproval {
        tracing::info!(
            delay_ms = state.slow.as_millis() as i64,
            "processor is slow"
        );
        tokio::time::sleep(state.slow).await;
    }
    let (status, reason) = match decision {
        Decision::Approved | Decision::SlowApproval => (PaymentStatus::Approved, None),
        Decision::Declined(reason) => (PaymentStatus::Declined, Some(reason)),
        Decision::ProcessingError => (PaymentStatus::Failed, Some("processing_error")),
    };
    let trace_context = shared_tracing::stored::capture(&span);
    let recorded = store::insert_payment(
        &state.db,
        &NewPayment {
            trace_context: &trace_context,
            id: &payment_id,
            order_id: &request.order_id,
            amount_cents,
            currency,
            card_last4,
            status,
            decline_reason: reason,
            idempotency_key: key.as_deref(),
        },
    )
    .await?;
    if !recorded {
        // A void (or a twin of this request) got there while the processor was deciding.
        return match store::by_order(&state.db, &request.order_id).await? {
            Some(stored) => answer_repeat(stored, key.as_deref(), amount_cents, currency),
            None => Err(Error::Voided),
        };
    }

    span.set_attribute("payment_id", payment_id.clone());
    span.set_attribute("payment.status", status.as_str());
    match (decision, reason) {
        (Decision::ProcessingError, _) => Err(Error::ProcessingError { payment_id }),
        (_, None) => {
            tracing::info!(payment_id, card.last4 = card_last4, "payment approved");
            Ok(Json(PaymentResponse { payment_id, status }))
        }
        (_, Some(reason)) => {
            tracing::warn!(
                payment_id,
                reason,
                card.last4 = card_last4,
                "payment declined"
            );
            Err(Error::Declined { payment_id, reason })
        }
    }
}

/// The answer to a charge for an order whose payment is already stored: the first charge's. Under
/// the first charge's `Idempotency-Key`, another amount or currency is refused (422) instead.
fn answer_repeat(
    stored: store::Stored,
    key: Option<&str>,
    amount_cents: i64,
    currency: &str,
) -> Result<Json<PaymentResponse>> {
    if let Some(key) = key.filter(|key| stored.idempotency_key.as_deref() == Some(*key)) {
        if (stored.amount_cents, stored.currency.as_str()) != (amount_cents, currency) {
            return Err(Error::KeyReused);
        }
        service_kit::idempotency::replayed(key);
    }
    answer_existing(stored.id, stored.status, stored.decline_reason)
}

/// The answer for an order whose payment is already stored.
fn answer_existing(
    payment_id: String,
    status: PaymentStatus,
    reason: Option<String>,
) -> Result<Json<PaymentResponse>> {
    tracing::Span::current().set_attribute("payment.status", status.as_str());
    match status {
        PaymentStatus::Approved => Ok(Json(PaymentResponse { payment_id, status })),
        PaymentStatus::Declined => Err(Error::Declined {
            payment_id,
            reason: match reason.as_deref() {
                Some("insufficient_funds") => "insufficient_funds",
                _ => "card_declined",
            },
        }),
        PaymentStatus::Failed => Err(Error::ProcessingError { payment_id }),
        PaymentStatus::Voided => Err(Error::Voided),
    }
}

/// `POST /internal/payments/{order_id}/capture`: keeps the order's approved charge, as
/// order-service confirms the order. Idempotent. A charge approved longer than the capture window
/// ago is voided instead and the capture refused (409 `voided`): the order must then fail.
async fn capture_payment(
    State(state): State<AppState>,
    service_kit::Path(order_id): service_kit::Path<String>,
) -> Result<Json<CaptureResponse>> {
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    match store::capture(&state.db, &order_id, state.capture_ttl).await? {
        Capture::Kept(payment_id) => {
            span.set_attribute("payment_id", payment_id.clone());
            span.set_attribute("payment.status", PaymentStatus::Approved.as_str());
            Ok(Json(CaptureResponse {
                order_id,
                payment_id,
                status: PaymentStatus::Approved,
            }))
        }
        Capture::Expired => {
            span.set_attribute("payment.status", PaymentStatus::Voided.as_str());
            tracing::warn!(order_id, "authorization_expired");
            Err(Error::Voided)
        }
        Capture::NotApproved(Some(status)) => {
            span.set_attribute("payment.status", status.as_str());
            match status {
                PaymentStatus::Voided => Err(Error::Voided),
                other => Err(Error::NotCapturable(other.as_str())),
            }
        }
        Capture::NotApproved(None) => Err(Error::NoPayment),
    }
}

/// `POST /internal/payments/{order_id}/void`: gives back an approved charge, or makes sure none
/// can be recorded later. Idempotent; answers the status the order's payment ends with.
async fn void_payment(
    State(state): State<AppState>,
    service_kit::Path(order_id): service_kit::Path<String>,
) -> Result<Json<VoidResponse>> {
    let span = tracing::Span::current();
    span.set_attribute("order_id", order_id.clone());
    let tombstone = uuid::Uuid::new_v4().to_string();
    let status = store::void(&state.db, &order_id, &tombstone).await?;
    span.set_attribute("payment.status", status.as_str());
    tracing::warn!(order_id, status = status.as_str(), "payment_voided");
    Ok(Json(VoidResponse { order_id, status }))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(Health::ok(crate::SERVICE_NAME)))
}
