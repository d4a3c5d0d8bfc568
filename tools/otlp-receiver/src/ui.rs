//! The trace viewer's web UI: one page and its script and styles, compiled into the binary (no
//! CDN, no network). Every view is a URL the page's router understands.

use axum::{
    Router,
    http::header::CONTENT_TYPE,
    response::{Html, IntoResponse},
    routing::get,
};

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLES: &str = include_str!("../ui/app.css");

/// `/`, `/search`, `/trace/{id}`, `/dependencies`, `/monitor` and `/quality` (all the same
/// page), plus its assets.
pub fn ui_router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/search", get(index))
        .route("/trace/{trace_id}", get(index))
        .route("/dependencies", get(index))
        .route("/monitor", get(index))
        .route("/quality", get(index))
        .route(
            "/static/app.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
        )
        .route(
            "/static/app.css",
            get(|| async { ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLES) }),
        )
}

async fn index() -> impl IntoResponse {
    Html(INDEX)
}
