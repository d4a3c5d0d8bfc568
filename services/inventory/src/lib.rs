//! inventory-service: the catalogue, stock levels and reservations.
//!
//! - `GET /api/stock/{sku}` → `{sku, name, price, price_cents, available, reserved, sold}`, 404
//!   for an unknown SKU
//! - `POST /api/reservations` `{order_id, items: [{sku, quantity}]}` → 201 `{reservation_id,
//!   total, total_cents}` priced from the catalogue; 409 when stock is short, 404 for an unknown
//!   SKU
//! - `DELETE /api/reservations/{id}` → 204, returns the held stock (idempotent)
//! - `POST /internal/orders/{order_id}/reservation/release` → `{order_id, status}`: whatever the
//!   order holds goes back on sale, and it can hold nothing later (order-service's compensation)
//! - `GET /healthz`
//!
//! The [`consumer`] processes `orders.created` from NATS JetStream (durable consumer `inventory`):
//! each event's held stock is sold, once, in a CONSUMER span joined to the order's trace, and
//! `orders.fulfilled` is published for order-service. A
//! reservation neither committed nor released within `RESERVATION_TTL_MS` is released by the
//! expiry sweep (`expiry.rs`).

mod config;
pub mod consumer;
mod error;
mod expiry;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::{Application, Identity, server::Options};
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::inventory::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    identity: Identity,
    db: SqlitePool,
}

impl AppState {
    /// Opens the database named in `config` and runs the migrations (which seed the catalogue),
    /// then tops the stock up to `SEED_STOCK` if set.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        if let Some(stock) = config.seed_stock {
            store::stock_at_least(&db, i64::from(stock)).await?;
        }
        let service = config.telemetry.service_name(SERVICE_NAME);
        Ok(Self {
            db,
            server: Options::new(&config.dev, &config.telemetry.environment, &service),
            identity: Identity::load(&config.identity, SERVICE_NAME)?,
        })
    }
}

/// The service bound to `LISTEN_ADDR`, with the expiry of overdue reservations and, unless
/// `INVENTORY_CONSUMER=false`, the `orders.created` consumer running (NATS is connected in the
/// background: the API serves while it is down). [`service_kit::Application::run_until_stopped`]
/// serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    let state = AppState::connect(config).await?;
    let db = state.db.clone();
    let mut application = Application::bind(config.listen_addr, app(state), config.server).await?;
    application.spawn(expiry::run(db.clone(), config.reservation_ttl));
    if config.inventory_consumer {
        let jetstream = service_kit::events::connect(&config.nats_url, SERVICE_NAME).await?;
        let consumer = service_kit::events::Consumer::new(
            jetstream.clone(),
            consumer::DURABLE,
            config.consumer,
            consumer::SellStock::new(db, jetstream),
        );
        application.spawn_graceful(|stopping| consumer.run_until(stopping));
    } else {
        tracing::info!("INVENTORY_CONSUMER=false: serving the API only");
    }
    Ok(application)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    let router = service_kit::identity::guard(routes::router(), &state.identity, routes::ACCESS);
    service_kit::server::app(router, &state.server).with_state(state)
}
