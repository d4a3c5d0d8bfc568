//! The public routes, each forwarded to the service that owns it, and the demo page.

use crate::{AppState, Result, proxy::forward};
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method},
    response::{Html, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use service_kit::{Json, Path, client::path_segment};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/api/login", post(login))
        .route("/api/users/{id}", get(get_user))
        .route("/api/orders", post(create_order))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/inventory/{sku}", get(get_inventory))
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    forward(
        &state.auth,
        "/api/login",
        Method::POST,
        "/api/login",
        &headers,
        body,
    )
    .await
}

async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let path = format!("/api/users/{}", path_segment(&id));
    forward(
        &state.user,
        "/api/users/{id}",
        Method::GET,
        &path,
        &headers,
        Bytes::new(),
    )
    .await
}

async fn create_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    forward(
        &state.order,
        "/api/orders",
        Method::POST,
        "/api/orders",
        &headers,
        body,
    )
    .await
}

async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let path = format!("/api/orders/{}", path_segment(&id));
    forward(
        &state.order,
        "/api/orders/{id}",
        Method::GET,
        &path,
        &headers,
        Bytes::new(),
    )
    .await
}

async fn get_inventory(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let path = format!("/api/stock/{}", path_segment(&sku));
    forward(
        &state.inventory,
        "/api/stock/{sku}",
        Method::GET,
        &path,
        &headers,
        Bytes::new(),
    )
    .await
}

async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}

/// Health, and each upstream's circuit state (visible without a trace).
async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let circuits: serde_json::Map<String, Value> = state
        .upstreams()
        .iter()
        .filter_map(|u| Some((u.service().to_owned(), u.circuit_state()?.as_str().into())))
        .collect();
    Json(json!({ "status": "ok", "service": crate::SERVICE_NAME, "circuits": circuits }))
}
