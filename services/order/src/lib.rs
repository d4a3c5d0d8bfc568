//! order-service: places orders — verify the caller, look up the customer's profile (the receipt
//! goes to their email), reserve stock, charge the card, store the order.
//!
//! - `POST /api/orders` `{items: [{sku, quantity}], card_number, currency?}` with a bearer token →
//!   201 `{order_id, status, total}`; 401 without a valid token; 409 when stock is short;
//!   402 `{error, reason, order_id, trace_id}` when the card is declined (the reservation is
//!   released); 502/504 when a downstream fails
//! - `GET /api/orders/{id}` → the order, for its owner only (403 otherwise, 404 if unknown)
//! - `GET /healthz`
//!
//! A confirmed order and its `order.created` event are written in one transaction (the outbox);
//! the [`relay`] publishes the event to NATS JetStream `orders.created` with the trace context in
//! the message headers. Once inventory-service has sold the stock it publishes `orders.fulfilled`,
//! and [`fulfilment`] marks the order `fulfilled`.

mod clients;
mod compensation;
mod config;
mod error;
pub mod fulfilment;
pub mod relay;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::{Application, Downstream};
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = "order-service";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    server: service_kit::server::Options,
    db: SqlitePool,
    auth: clients::AuthClient,
    users: clients::UserClient,
    inventory: clients::InventoryClient,
    payment: clients::PaymentClient,
    relay: relay::Relay,
    jetstream: async_nats::jetstream::Context,
    consumer: service_kit::events::ConsumerSettings,
}

impl AppState {
    /// Opens the database named in `config`, runs the migrations and sets up the clients and the
    /// outbox relay (not running yet: [`build`] starts it). NATS is connected in the background:
    /// orders are taken while it is down.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        let jetstream = service_kit::events::connect(&config.nats_url, SERVICE_NAME).await?;
        let relay = relay::Relay::new(db.clone(), jetstream.clone(), config.stream_replicas);
        // One circuit breaker per downstream: an outage of one does not hold up calls to others.
        let downstream = |service, url: &str, timeout| {
            Downstream::new(service, url, timeout).with_circuit_breaker(config.breaker.into())
        };
        Ok(Self {
            server: service_kit::server::Options::from_env(SERVICE_NAME),
            relay,
            jetstream,
            consumer: config.consumer,
            db,
            auth: clients::AuthClient::new(downstream(
                "auth-service",
                &config.auth_service_url,
                config.auth_timeout,
            )),
            users: clients::UserClient::new(downstream(
                "user-service",
                &config.user_service_url,
                config.user_timeout,
            )),
            inventory: clients::InventoryClient::new(downstream(
                "inventory-service",
                &config.inventory_service_url,
                config.inventory_timeout,
            )),
            payment: clients::PaymentClient::new(downstream(
                "payment-service",
                &config.payment_service_url,
                config.payment_timeout,
            )),
        })
    }
}

impl AppState {
    /// Every downstream with its circuit state, for `/healthz`.
    pub(crate) fn downstreams(&self) -> [&Downstream; 4] {
        [
            self.auth.downstream(),
            self.users.downstream(),
            self.inventory.downstream(),
            self.payment.downstream(),
        ]
    }
}

/// The service bound to `LISTEN_ADDR`, with its outbox relay and its `orders.fulfilled` consumer
/// running: [`service_kit::Application::run_until_stopped`] serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    let state = AppState::connect(config).await?;
    let relay = state.relay.clone();
    let fulfilment = service_kit::events::Consumer::new(
        state.jetstream.clone(),
        fulfilment::DURABLE,
        state.consumer,
        fulfilment::MarkFulfilled::new(state.db.clone()),
    );
    let mut application = Application::bind(config.listen_addr, app(state), config.server).await?;
    application.spawn(relay.run());
    application.spawn(fulfilment.run());
    Ok(application)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    service_kit::server::app(routes::router(), &state.server).with_state(state)
}

/// Cents to the decimal amount used in the JSON APIs.
pub(crate) fn to_amount(cents: i64) -> f64 {
    cents as f64 / 100.0
}
