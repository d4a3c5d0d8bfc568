//! HTTP handlers and their router.

use crate::{AppState, Error, Result, store};
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, header::AUTHORIZATION},
    routing::get,
};
use serde_json::{Value, json};
use shared_tracing::{Json, Path};
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users/{id}", get(get_user))
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
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| Error::Unauthorized("missing bearer token".into()))?;
    state.auth.verify_access(authorization, id).await?;
    let profile = store::profile(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Json(profile))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Value>> {
    shared_tracing::db::ping(&state.db).await?;
    Ok(Json(
        json!({ "status": "ok", "service": crate::SERVICE_NAME }),
    ))
}
