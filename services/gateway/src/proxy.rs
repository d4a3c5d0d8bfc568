//! Forwarding one request to an upstream service and its answer back, unchanged.

use crate::Result;
use axum::{
    body::Bytes,
    http::{
        HeaderMap, Method,
        header::{AUTHORIZATION, CONTENT_TYPE, FORWARDED, RETRY_AFTER},
    },
    response::{IntoResponse, Response},
};
use service_kit::{Downstream, client::PROXY_STATUS};
use std::net::IpAddr;

/// What the gateway takes from the caller's request to the upstream.
pub(crate) struct Inbound<'a> {
    pub(crate) headers: &'a HeaderMap,
    /// The address of the connection the gateway accepted.
    pub(crate) client: Option<IpAddr>,
    pub(crate) body: Bytes,
}

/// Sends `method path` with the caller's `Authorization`, `Content-Type` and body to `upstream`,
/// and `Forwarded: for=` the caller's address — set here, never taken from the caller, so a
/// client cannot pass for another address (auth-service throttles logins per address) — the
/// trace context added by the traced client; relays status, content type,
/// `Retry-After`, `Proxy-Status` (which downstream failed, so the caller's breaker does not blame
/// the upstream) and body.
pub(crate) async fn forward(
    upstream: &Downstream,
    template: &'static str,
    method: Method,
    path: &str,
    inbound: Inbound<'_>,
) -> Result<Response> {
    let Inbound {
        headers,
        client,
        body,
    } = inbound;
    let forwarded = client.map(|client| match client.to_canonical() {
        IpAddr::V4(ip) => format!("for={ip}"),
        IpAddr::V6(ip) => format!("for=\"[{ip}]\""),
    });
    let request = || {
        let mut request = upstream.request(method.clone(), path);
        if let Some(forwarded) = &forwarded {
            request = request.header(FORWARDED, forwarded);
        }
        for name in [AUTHORIZATION, CONTENT_TYPE] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value);
            }
        }
        if !body.is_empty() {
            // Bytes: a resend shares the buffer, it does not copy it.
            request = request.body(body.clone());
        }
        request
    };
    let response = upstream.send(template, request).await?;
    if response.refused_caller() {
        // The upstream refused the gateway's own identity: not the client's doing.
        let error = response.unexpected_status();
        tracing::error!(%error, "the upstream refused the gateway's service credential");
        return Err(error.into());
    }
    let status = response.status();
    let relayed_headers: Vec<_> = [CONTENT_TYPE, RETRY_AFTER, PROXY_STATUS]
        .into_iter()
        .filter_map(|name| Some((name.clone(), response.headers().get(&name)?.clone())))
        .collect();
    let body = response.bytes().await?;
    let mut relayed = (status, body).into_response();
    // Insert, not append: the upstream's Content-Type replaces the default one.
    for (name, value) in relayed_headers {
        relayed.headers_mut().insert(name, value);
    }
    Ok(relayed)
}
