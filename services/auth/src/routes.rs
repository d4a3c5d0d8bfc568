//! HTTP handlers and their router.

use crate::{AppState, Error, Result, store};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use axum::{
    Extension, Router,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::HeaderMap,
    routing::{get, post},
};
use contracts::auth::{Identity, LoginRequest, LoginResponse, VerifyRequest};
use service_kit::{Access, Health, Json, bearer};
use std::net::{IpAddr, SocketAddr};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Who may call each route ([`service_kit::identity::guard`]): logins come through the gateway;
/// tokens are verified for the services that act on a user's behalf.
pub(crate) const ACCESS: &[Access] = &[
    Access::only("/api/login", &[contracts::gateway::SERVICE_NAME]),
    Access::only(
        "/api/verify",
        &[
            contracts::user::SERVICE_NAME,
            contracts::order::SERVICE_NAME,
        ],
    ),
    Access::anyone("/healthz"),
];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/verify", post(verify))
        .route("/healthz", get(healthz))
}

/// An argon2id hash of no one's password, with the parameters of the stored ones (the crate's
/// defaults: m=19456 KiB, t=2, p=1), verified when the username is unknown.
const NO_SUCH_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$tSdR2MfM0V8K/Nuzg8U4rw$krfmodfU6CXOdEY+69ZdmBY9vlgIqBlse4tO1KUEz5k";

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>> {
    // The handler's attributes go on the request's SERVER span: one span per operation.
    tracing::Span::current().set_attribute("username", request.username.clone());
    let now = std::time::Instant::now();
    let address = client_address(&headers).or(peer.map(|Extension(ConnectInfo(peer))| peer.ip()));
    state
        .throttle
        .attempt(&request.username, address, now)
        .map_err(|(limit, retry_after)| {
            tracing::warn!(
                login.limit = limit.as_str(),
                retry_after_s = retry_after.as_secs(),
                "login_throttled"
            );
            Error::Throttled(retry_after)
        })?;
    let Some(permit) = state.throttle.hashing_permit().await else {
        tracing::warn!("login_shed");
        return Err(Error::Throttled(std::time::Duration::from_secs(1)));
    };
    let user = store::credentials(&state.db, &request.username).await?;
    // An unknown name is checked against a hash too, with the same cost: a refusal takes as long
    // whether or not the user exists, so timing does not tell which names do.
    let stored = user
        .as_ref()
        .map_or(NO_SUCH_USER_HASH, |u| u.password_hash.as_str())
        .to_owned();
    // Argon2 is CPU-heavy by design: keep it off the async workers.
    let password = request.password;
    let span = tracing::info_span!("auth.password_verify");
    let matches = tokio::task::spawn_blocking(move || {
        // Held by the check itself: it runs to the end even if the request is dropped.
        let _permit = permit;
        span.in_scope(|| {
            PasswordHash::new(&stored).map(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
    .map_err(|e| Error::Internal(format!("stored hash is malformed: {e}")))?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("login refused");
        return Err(Error::InvalidCredentials);
    };
    state.throttle.succeeded(&request.username, address);
    tracing::Span::current().set_attribute("user_id", user.id);
    let token = state
        .tokens
        .issue(user.id, &request.username)
        .map_err(|e| Error::Internal(e.to_string()))?;
    tracing::info!("login succeeded");
    Ok(Json(LoginResponse {
        token,
        user_id: user.id,
    }))
}

async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Identity>> {
    let token = bearer::token(&headers).ok_or(Error::Unauthorized("missing bearer token"))?;
    // The body is optional: an empty one means "who is this token?".
    let request: VerifyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| Error::BadRequest("body must be {\"user_id\": <integer>}"))?
    };
    let claims = state.tokens.verify(token).map_err(|error| {
        tracing::info!(reason = %error, "token rejected");
        Error::Unauthorized("invalid or expired token")
    })?;
    let user_id: i64 = claims
        .sub
        .parse()
        .map_err(|_| Error::Unauthorized("invalid or expired token"))?;
    let span = tracing::Span::current();
    span.set_attribute("user_id", user_id);
    span.set_attribute("enduser.id", user_id.to_string());
    if let Some(requested) = request.user_id {
        span.set_attribute("requested_user_id", requested);
        if requested != user_id {
            return Err(Error::Forbidden);
        }
    }
    Ok(Json(Identity {
        user_id,
        username: claims.name,
    }))
}

/// The client the gateway saw: the first `for=` of `Forwarded` (RFC 7239), which the gateway
/// sets from the connection it accepted (replacing whatever the client sent).
fn client_address(headers: &HeaderMap) -> Option<IpAddr> {
    let forwarded = headers.get("forwarded")?.to_str().ok()?;
    let element = forwarded.split(',').next()?;
    let value = element
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.eq_ignore_ascii_case("for"))?
        .1
        .trim_matches('"');
    value
        .trim_start_matches('[')
        .split(']')
        .next()?
        .parse()
        .ok()
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>> {
    service_kit::db::ping(&state.db).await?;
    Ok(Json(Health::ok(crate::SERVICE_NAME)))
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use axum::http::HeaderMap;

    #[test]
    fn the_client_address_is_the_first_forwarded_for() {
        let address = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("forwarded", value.parse().unwrap());
            client_address(&headers).map(|ip| ip.to_string())
        };
        assert_eq!(address("for=192.0.2.60").as_deref(), Some("192.0.2.60"));
        assert_eq!(
            address(r#"for="[2001:db8::1]""#).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            address("proto=http;for=192.0.2.60, for=10.0.0.1").as_deref(),
            Some("192.0.2.60")
        );
        assert_eq!(address("for=unknown"), None);
        assert_eq!(client_address(&HeaderMap::new()), None);
    }
}
