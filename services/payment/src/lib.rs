//! payment-service: charges cards against a fake processor driven by Stripe-style test cards.
//!
//! - `POST /api/payments` `{order_id, amount, currency, card_number}` → 200 `{payment_id, status}`,
//!   402 `{error, reason, payment_id, trace_id}` when declined, 500 `{error, reason, trace_id}`
//!   with `reason: processing_error` when the processor fails, 400 on bad input, 409 `reason:
//!   voided` when the order's payment was voided first. One payment per order: the same order
//!   charged again answers as the first charge did.
//! - `POST /internal/payments/{order_id}/capture` (order-service, as it confirms the order) →
//!   200 `{order_id, payment_id, status}`: the approved charge is kept; 409 `reason: voided` when
//!   it was voided (or had waited past `PAYMENT_CAPTURE_TTL_MS`, and is voided now), 409 with the
//!   payment's status as `reason` when it was never approved, 404 when the order has no payment.
//! - `POST /internal/payments/{order_id}/void` (order-service's compensation when it lost track of
//!   a charge) → 200 `{order_id, status}`: an approved charge becomes `voided`; with none yet a
//!   `voided` one is recorded, so a late charge is refused.
//! - `GET /healthz`
//!
//! An approved charge is an authorisation until its order captures it: [`expiry`] voids one that
//! no order captured within `PAYMENT_CAPTURE_TTL_MS`.
//!
//! Only the last four digits of a card are ever stored, logged or put on a span.

mod config;
mod error;
mod expiry;
mod processor;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::{Application, Identity, server::Options};
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::payment::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    identity: Identity,
    db: SqlitePool,
    slow: std::time::Duration,
    capture_ttl: std::time::Duration,
    max_amount_cents: i64,
}

impl AppState {
    /// Opens the database named in `config` and runs the migrations.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        let service = config.telemetry.service_name(SERVICE_NAME);
        Ok(Self {
            server: Options::new(&config.dev, &config.telemetry.environment, &service),
            identity: Identity::load(&config.identity, SERVICE_NAME)?,
            db,
            slow: config.payment_slow,
            capture_ttl: config.capture_ttl,
            max_amount_cents: config.max_amount_cents,
        })
    }
}

/// The service bound to `LISTEN_ADDR`, with its authorization expiry running:
/// [`service_kit::Application::run_until_stopped`] serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    let state = AppState::connect(config).await?;
    let expiry = expiry::run(state.db.clone(), state.capture_ttl);
    let mut application = Application::bind(config.listen_addr, app(state), config.server).await?;
    application.spawn(expiry);
    Ok(application)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    let router = service_kit::identity::guard(routes::router(), &state.identity, routes::ACCESS);
    service_kit::server::app(router, &state.server).with_state(state)
}
