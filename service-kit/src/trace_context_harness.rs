//! `POST /tracecontext/test`: the test service the official W3C Trace Context harness
//! (`w3c/trace-context`, `test/test.py`) drives. For each `{"url", "arguments"}` of the JSON
//! array it receives, it POSTs `arguments` to `url` — inside the request's SERVER span, through a
//! CLIENT span, with this service's own propagation — so the harness sees what the service sends
//! on for the headers it was given. Served only with `TRACECONTEXT_TEST_ENDPOINT=true`, never in
//! production, and it calls loopback addresses only: it cannot be turned into a relay to
//! anywhere else.

use crate::error::{ApiError, Json};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use shared_tracing::http_client::{self, Call};
use std::{net::IpAddr, sync::OnceLock, time::Duration};

/// Where the harness finds the test service.
pub(crate) const PATH: &str = "/tracecontext/test";

/// How long one callback may take (the harness waits 5 s for the whole request).
const TIMEOUT: Duration = Duration::from_secs(3);

/// One instruction of the harness.
#[derive(Debug, Deserialize)]
pub(crate) struct Case {
    url: String,
    #[serde(default)]
    arguments: Value,
}

pub(crate) async fn handle(Json(cases): Json<Vec<Case>>) -> Result<StatusCode, ApiError> {
    let urls = cases
        .iter()
        .map(|case| loopback_url(&case.url))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "callbacks go to http://127.0.0.1, http://[::1] or http://localhost only",
            )
        })?;
    for (case, url) in cases.iter().zip(urls) {
        let request = http()
            .post(url)
            .json(&case.arguments)
            .build()
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("callback: {e}")))?;
        let call = Call::new("/{harness}", "tracecontext-harness", TIMEOUT);
        // The harness only reads the headers it gets; its answer does not matter.
        let _ = http_client::send(http(), request, &call).await;
    }
    Ok(StatusCode::OK)
}

/// `url`, if it is an `http` URL on a loopback address.
fn loopback_url(url: &str) -> Option<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let loopback = parsed.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    (parsed.scheme() == "http" && loopback).then_some(parsed)
}

fn http() -> &'static reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            // Not even a redirect leaves loopback.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_called() {
        for url in [
            "http://127.0.0.1:7777/abc",
            "http://[::1]:7777/abc",
            "http://localhost:7777/abc",
            "http://127.1.2.3/x",
        ] {
            assert!(loopback_url(url).is_some(), "{url}");
        }
        for url in [
            "http://example.com/",
            "https://127.0.0.1/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(loopback_url(url).is_none(), "{url}");
        }
    }
}
