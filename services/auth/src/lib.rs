//! auth-service: logins and token verification.
//!
//! - `POST /api/login` `{username, password}` → `{token, user_id}` (a JWT, HS256), 401 otherwise,
//!   429 with `Retry-After` when throttled
//! - `POST /api/verify` with `Authorization: Bearer <token>` and an optional `{user_id}` body →
//!   200 `{user_id, username}` of the token's subject; 401 for a missing, bad or expired token;
//!   403 when `user_id` is given and is not the subject
//! - `GET /healthz`

mod config;
mod error;
mod routes;
mod store;
mod throttle;
mod token;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::{Application, Identity, server::Options};
use sqlx::SqlitePool;
use std::sync::Arc;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = contracts::auth::SERVICE_NAME;

/// What every handler shares; axum clones it per request, so every field is a cheap handle.
#[derive(Clone)]
pub struct AppState {
    server: Options,
    identity: Identity,
    db: SqlitePool,
    tokens: Arc<token::Keys>,
    throttle: Arc<throttle::Throttle>,
}

impl AppState {
    /// Opens the database named in `config`, runs the migrations (which seed the demo users) and
    /// loads the signing key.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        let service = config.telemetry.service_name(SERVICE_NAME);
        Ok(Self {
            server: Options::new(&config.dev, &config.telemetry.environment, &service),
            identity: Identity::load(&config.identity, SERVICE_NAME)?,
            db,
            tokens: Arc::new(token::Keys::new(&config.jwt_secret, config.token_ttl())),
            throttle: Arc::new(throttle::Throttle::new(
                config.login_max_failures,
                config.login_max_failures_per_address,
                std::time::Duration::from_secs(config.login_failure_window_secs),
            )),
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
