//! The public routes, each forwarded to the service that owns it, and the demo page.

use crate::{
    AppState,
    proxy::{Inbound, forward},
};
use axum::{
    Extension, Router,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, Method},
    response::Html,
    routing::{MethodFilter, get, on},
};
use service_kit::{Health, Json, client::path_segment};
use std::{collections::HashMap, net::SocketAddr};

/// Which upstream service a public route goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Upstream {
    Auth,
    User,
    Order,
    Inventory,
}

/// One public route: its method and path, the upstream it is forwarded to, and the upstream's
/// route (the same `{name}` parameters; the values are percent-encoded on the way).
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) public: &'static str,
    pub(crate) upstream: Upstream,
    pub(crate) target: &'static str,
}

const fn route(
    method: Method,
    public: &'static str,
    upstream: Upstream,
    target: &'static str,
) -> Route {
    Route {
        method,
        public,
        upstream,
        target,
    }
}

/// The public API, in one table.
pub(crate) const ROUTES: [Route; 5] = [
    route(Method::POST, "/api/login", Upstream::Auth, "/api/login"),
    route(
        Method::GET,
        "/api/users/{id}",
        Upstream::User,
        "/api/users/{id}",
    ),
    route(Method::POST, "/api/orders", Upstream::Order, "/api/orders"),
    route(
        Method::GET,
        "/api/orders/{id}",
        Upstream::Order,
        "/api/orders/{id}",
    ),
    route(
        Method::GET,
        "/api/inventory/{sku}",
        Upstream::Inventory,
        "/api/stock/{sku}",
    ),
];

pub(crate) fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi));
    for route in ROUTES {
        let filter = MethodFilter::try_from(route.method.clone()).expect("a standard method");
        let public = route.public;
        let handler = move |State(state): State<AppState>,
                            params: Option<axum::extract::Path<HashMap<String, String>>>,
                            peer: Option<Extension<ConnectInfo<SocketAddr>>>,
                            headers: HeaderMap,
                            body: Bytes| {
            let route = route.clone();
            async move {
                let params = params.map(|p| p.0).unwrap_or_default();
                let path = fill(route.target, &params);
                let client = peer.map(|Extension(ConnectInfo(peer))| peer.ip());
                forward(
                    state.upstream(route.upstream),
                    route.target,
                    route.method,
                    &path,
                    Inbound {
                        headers: &headers,
                        client,
                        body,
                    },
                )
                .await
            }
        };
        router = router.route(public, on(filter, handler));
    }
    router
}

/// `template` with each `{name}` replaced by its percent-encoded value from `params`.
fn fill(template: &str, params: &HashMap<String, String>) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => path_segment(params.get(name).map_or("", String::as_str)),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

async fn openapi() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}

/// Health, and each upstream's circuit state (visible without a trace).
async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health::with_circuits(
        crate::SERVICE_NAME,
        state.upstreams(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_percent_encoded() {
        let params = HashMap::from([("sku".to_owned(), "a/b c".to_owned())]);
        assert_eq!(fill("/api/stock/{sku}", &params), "/api/stock/a%2Fb%20c");
        assert_eq!(fill("/api/orders", &HashMap::new()), "/api/orders");
    }
}
