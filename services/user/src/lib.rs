//! user-service: user profiles, readable by their owner.
//!
//! - `GET /api/users/{id}` with `Authorization: Bearer <token>` → `{id, username, email,
//!   full_name}`; access is checked through auth-service (one `POST /api/verify` CLIENT span):
//!   401 without a valid token, 403 "Permission denied" for someone else's profile,
//!   404 "User not found"
//! - `GET /internal/users/{id}` → the profile, for order-service, which has verified the
//!   customer already
//! - `GET /healthz`, with auth-service's circuit state

mod config;
mod error;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use contracts::auth::AuthClient;
use service_kit::{Application, Downstream, Identity, server::Options};
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::user::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    identity: Identity,
    db: SqlitePool,
    auth: AuthClient,
}

impl AppState {
    /// Opens the database named in `config`, runs the migrations and sets up the auth client,
    /// with its circuit breaker.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        let service = config.telemetry.service_name(SERVICE_NAME);
        let identity = Identity::load(&config.identity, SERVICE_NAME)?;
        Ok(Self {
            server: Options::new(&config.dev, &config.telemetry.environment, &service),
            db,
            auth: AuthClient::new(Downstream::with_circuit_breaker(
                contracts::auth::SERVICE_NAME,
                &config.auth_service_url,
                config.auth_timeout,
                config.breaker.into(),
                &identity,
            )),
            identity,
        })
    }
}

/// The service bound to `LISTEN_ADDR`: [`service_kit::Application::run_until_stopped`] serves it.
pub async fn build(config: &Config) -> Result<Application, Box<dyn std::error::Error>> {
    let state = AppState::connect(config).await?;
    Ok(Application::bind(config.listen_addr, app(state), config.server).await?)
}

/// The service's router, instrumented.
pub fn app(state: AppState) -> Router {
    let router = service_kit::identity::guard(routes::router(), &state.identity, routes::ACCESS);
    service_kit::server::app(router, &state.server).with_state(state)
}
