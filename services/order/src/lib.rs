//! order-service: places orders — verify the caller, look up the customer's profile (the receipt
//! goes to their email), reserve stock, charge the card, store the order.
//!
//! - `POST /api/orders` `{items: [{sku, quantity}], card_number, currency?}` with a bearer token →
//!   201 `{order_id, status, total, total_cents}`; 401 without a valid token; 409 when stock is short;
//!   402 `{error, reason, order_id, trace_id}` when the card is declined (the reservation is
//!   released); 409 `reason: payment_voided` when the charge was given back before the order
//!   could be confirmed; 502/504 when a downstream fails
//! - `GET /api/orders/{id}` → the order, for its owner only (404 for anyone else's, as for an
//!   unknown one: a 403 would tell that it exists)
//! - `GET /healthz`
//!
//! A confirmed order and its `order.created` event are written in one transaction (the outbox);
//! the [`relay`] publishes the event to NATS JetStream `orders.created` with the trace context in
//! the message headers. Once inventory-service has sold the stock it publishes `orders.fulfilled`,
//! and [`fulfilment`] marks the order `fulfilled`.
//!
//! An order that is not placed leaves nothing behind: releasing its stock and voiding its charge
//! are durable intents in this service's database, carried out after a crash too
//! ([`compensation`]); payment-service voids a charge no order captured in time on its own.

pub mod compensation;
mod config;
mod error;
pub mod fulfilment;
pub mod relay;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use contracts::{
    auth::AuthClient, inventory::InventoryClient, payment::PaymentClient, user::UserClient,
};
use service_kit::{Application, Downstream, Identity, server::Options};
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::order::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    identity: Identity,
    db: SqlitePool,
    auth: AuthClient,
    users: UserClient,
    inventory: InventoryClient,
    payment: PaymentClient,
    relay: relay::Relay,
    compensations: compensation::Compensations,
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
        let identity = Identity::load(&config.identity, SERVICE_NAME)?;
        let breaker = config.breaker.into();
        let downstream = |service, url: &str, timeout| {
            Downstream::with_circuit_breaker(service, url, timeout, breaker, &identity)
        };
        let service = config.telemetry.service_name(SERVICE_NAME);
        let inventory = InventoryClient::new(downstream(
            contracts::inventory::SERVICE_NAME,
            &config.inventory_service_url,
            config.inventory_timeout,
        ));
        let payment = PaymentClient::new(downstream(
            contracts::payment::SERVICE_NAME,
            &config.payment_service_url,
            config.payment_timeout,
        ));
        let compensations =
            compensation::Compensations::new(db.clone(), inventory.clone(), payment.clone());
        Ok(Self {
            server: Options::new(&config.dev, &config.telemetry.environment, &service),
            identity: identity.clone(),
            relay,
            compensations,
            jetstream,
            consumer: config.consumer,
            db,
            inventory,
            payment,
            auth: AuthClient::new(downstream(
                contracts::auth::SERVICE_NAME,
                &config.auth_service_url,
                config.auth_timeout,
            )),
            users: UserClient::new(downstream(
                contracts::user::SERVICE_NAME,
                &config.user_service_url,
                config.user_timeout,
            )),
        })
    }

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

/// The service bound to `LISTEN_ADDR`, with its outbox relay, its compensation worker and its
/// `orders.fulfilled` consumer running: [`service_kit::Application::run_until_stopped`] serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    let state = AppState::connect(config).await?;
    let relay = state.relay.clone();
    let compensations = state.compensations.clone();
    let fulfilment = service_kit::events::Consumer::new(
        state.jetstream.clone(),
        fulfilment::DURABLE,
        state.consumer,
        fulfilment::MarkFulfilled::new(state.db.clone()),
    );
    let mut application = Application::bind(config.listen_addr, app(state), config.server).await?;
    application.spawn(relay.run());
    application.spawn(compensations.run());
    application.spawn_graceful(|stopping| fulfilment.run_until(stopping));
    Ok(application)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    let router = service_kit::identity::guard(routes::router(), &state.identity, routes::ACCESS);
    service_kit::server::app(router, &state.server).with_state(state)
}
