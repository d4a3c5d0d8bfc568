//! HTTP handlers and their router.

use crate::{AppState, Error, Result, store};
use axum::{Router, extract::State, http::HeaderMap, routing::get};
use contracts::user::Profile;
use service_kit::{Access, Health, Json, Path, bearer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Who may call each route ([`service_kit::identity::guard`]): a user's own profile comes
/// through the gateway (with the user's token); the internal profile, without one, only to
/// order-service, which has verified the user already (the gateway never asks for it).
pub(crate) const ACCESS: &[Access] = &[
    Access::only("/api/users/{id}", &[GATEWAY]),
    Access::only("/internal/users/{id}", &[ORDER]),
    Access::anyone("/healthz"),
];

const GATEWAY: &str = contracts::gateway::SERVICE_NAME;
const ORDER: &str = contracts::order::SERVICE_NAME;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/{id}", get(get_user))
        // Internal (order-service, which has verified the caller already), not routed by the
        // gateway.
        .route("/internal/users/{id}", get(get_profile))
        .route("/healthz", get(healthz))
}

async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<Profile>> {
    let span = tracing::Span::current();
    span.set_attribute("user_id", id);
    span.set_attribute("endpoint", "get_user");
    let token = bearer::token(&headers)
        .ok_or_else(|| Error::Unauthorized("missing bearer token".into()))?;
    state.auth.verify_access(token, id).await?;
    let profile = store::profile(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(profile))
}

/// `GET /internal/users/{id}`: the profile, for a service that has verified its caller.
async fn get_profile(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Profile>> {
    tracing::Span::current().set_attribute("user_id", id);
    let profile = store::profile(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(profile))
}

/// Health, and auth-service's circuit state.
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    service_kit::db::ping(&state.db).await?;
    let auth = [state.auth.downstream()];
    Ok(Json(Health::with_circuits(crate::SERVICE_NAME, auth)))
}
