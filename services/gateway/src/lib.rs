//! gateway: the only public service. Routes `/api/*` to the services behind it (forwarding the
//! `Authorization` header and the trace context) and serves a small demo page at `/`.
//!
//! - `POST /api/login` → auth-service `POST /api/login`
//! - `GET /api/users/{id}` → user-service `GET /api/users/{id}`
//! - `POST /api/orders`, `GET /api/orders/{id}` → order-service
//! - `GET /api/inventory/{sku}` → inventory-service `GET /api/stock/{sku}`
//! - `GET /healthz`
//!
//! Every response carries `traceresponse`; every error body is `{"error", "trace_id"}`.

mod config;
mod error;
mod proxy;
mod routes;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use shared_tracing::Downstream;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = "gateway";

/// What every handler shares: one traced client per upstream service.
#[derive(Clone)]
pub struct AppState {
    auth: Downstream,
    user: Downstream,
    order: Downstream,
    inventory: Downstream,
}

impl AppState {
    /// Clients for the upstream services named in `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            auth: Downstream::new(
                "auth-service",
                &config.auth_service_url,
                config.auth_timeout(),
            ),
            user: Downstream::new(
                "user-service",
                &config.user_service_url,
                config.user_timeout(),
            ),
            order: Downstream::new(
                "order-service",
                &config.order_service_url,
                config.order_timeout(),
            ),
            inventory: Downstream::new(
                "inventory-service",
                &config.inventory_service_url,
                config.inventory_timeout(),
            ),
        }
    }
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    shared_tracing::server::instrument(routes::router()).with_state(state)
}
