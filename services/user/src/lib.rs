//! user-service: user profiles, readable by their owner.
//!
//! - `GET /api/users/{id}` with `Authorization: Bearer <token>` → `{id, username, email,
//!   full_name}`; access is checked through auth-service (one `POST /api/verify` CLIENT span):
//!   401 without a valid token, 403 "Permission denied" for someone else's profile,
//!   404 "User not found"
//! - `GET /healthz`

mod clients;
mod config;
mod error;
mod routes;
mod store;

pub use config::Config;
pub use error::{Error, Result};

use axum::Router;
use service_kit::Application;
use sqlx::SqlitePool;

/// The `service.name` of this service.
pub const SERVICE_NAME: &str = "user-service";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    server: service_kit::server::Options,
    db: SqlitePool,
    auth: clients::AuthClient,
}

impl AppState {
    /// Opens the database named in `config`, runs the migrations and sets up the auth client.
    pub async fn connect(config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        let db = service_kit::db::connect(&config.database_url).await?;
        sqlx::migrate!().run(&db).await?;
        Ok(Self {
            server: service_kit::server::Options::from_env(SERVICE_NAME),
            db,
            auth: clients::AuthClient::new(&config.auth_service_url, config.auth_timeout),
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
    service_kit::server::app(routes::router(), &state.server).with_state(state)
}
