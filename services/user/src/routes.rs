//! HTTP handlers and their router.

use crate::{AppState, Error, Result, store};
use axum::{Router, extract::State, http::HeaderMap, routing::get};
use serde_json::{Value, json};
use service_kit::{Json, Path, bearer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

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
) -> Result<Json<store::Profile>> {
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
async fn get_profile(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<store::Profile>> {
    tracing::Span::current().set_attribute("user_id", id);
    let profile = store::profile(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(profile))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "service": crate::SERVICE_NAME }),
    ))
}
