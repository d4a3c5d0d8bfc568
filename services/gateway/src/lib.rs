//! gateway: the only public service. Routes `/api/*` to the services behind it (forwarding the
//! `Authorization` header and the trace context) and serves a small demo page at `/`.
//!
//! - `POST /api/login` → auth-service `POST /api/login`
//! - `GET /api/users/{id}` → user-service `GET /api/users/{id}`
//! - `POST /api/orders`, `GET /api/orders/{id}` → order-service
//! - `GET /api/inventory/{sku}` → inventory-service `GET /api/stock/{sku}`
//! - `GET /healthz`
//! - `GET /openapi.json`: the public API as an OpenAPI 3.1 document
//!
//! The forwarded routes are one table, `routes::ROUTES`.
//!
//! Every response carries `traceresponse`; every error body is `{"error", "trace_id"}`. Each
//! upstream has a circuit breaker; with `FAULT_INJECTION=false` inbound `baggage` is dropped here,
//! at the public edge.

mod config;
mod error;
mod openapi;
mod proxy;
mod routes;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::{Application, Downstream, Identity, identity::IdentityError, server::Options};
use shared_tracing::http_server::EdgeTrust;
use std::sync::Arc;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::gateway::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    trust: Arc<EdgeTrust>,
    auth: Downstream,
    user: Downstream,
    order: Downstream,
    inventory: Downstream,
}

impl AppState {
    /// Clients for the upstream services named in `config`, each with its own circuit breaker,
    /// and whose trace context the edge continues (`TRACE_CONTEXT_TRUSTED_CALLERS`; the entries
    /// it ignores are logged), every call signed with the gateway's identity.
    pub fn new(config: &Config) -> Result<Self, IdentityError> {
        let identity = Identity::load(&config.identity, SERVICE_NAME)?;
        let breaker = config.breaker.into();
        let upstream = |service, url: &str, timeout| {
            Downstream::with_circuit_breaker(service, url, timeout, breaker, &identity)
        };
        let environment = &config.telemetry.environment;
        let (trust, warnings) = EdgeTrust::from_setting(
            config.trace_context_trusted_callers.as_deref(),
            environment.is_production(),
        );
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let service = config.telemetry.service_name(SERVICE_NAME);
        Ok(Self {
            server: Options::new(&config.dev, environment, &service),
            trust: Arc::new(trust),
            auth: upstream(
                contracts::auth::SERVICE_NAME,
                &config.auth_service_url,
                config.auth_timeout,
            ),
            user: upstream(
                contracts::user::SERVICE_NAME,
                &config.user_service_url,
                config.user_timeout,
            ),
            order: upstream(
                contracts::order::SERVICE_NAME,
                &config.order_service_url,
                config.order_timeout,
            ),
            inventory: upstream(
                contracts::inventory::SERVICE_NAME,
                &config.inventory_service_url,
                config.inventory_timeout,
            ),
        })
    }

    /// The client of `upstream`.
    pub(crate) fn upstream(&self, upstream: routes::Upstream) -> &Downstream {
        match upstream {
            routes::Upstream::Auth => &self.auth,
            routes::Upstream::User => &self.user,
            routes::Upstream::Order => &self.order,
            routes::Upstream::Inventory => &self.inventory,
        }
    }

    /// Every upstream with its circuit state, for `/healthz`.
    pub(crate) fn upstreams(&self) -> [&Downstream; 4] {
        [&self.auth, &self.user, &self.order, &self.inventory]
    }
}

/// The service bound to `LISTEN_ADDR`: [`service_kit::Application::run_until_stopped`] serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    Ok(Application::bind(
        config.listen_addr,
        app(AppState::new(config)?),
        config.server,
    )
    .await?)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    let trust = EdgeTrust::clone(&state.trust);
    service_kit::server::edge_app(routes::router(), &state.server, trust).with_state(state)
}
