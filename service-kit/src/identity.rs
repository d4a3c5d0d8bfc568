//! Who is calling: every service signs each call with its own Ed25519 key — a JWT for that one
//! callee (`aud`), a minute long, reused for half of it — and admits a route's callers by its
//! access table ([`Access`], enforced by [`guard`]); the SERVER span names the caller it proved.
//!
//! The keys are files in `SERVICE_IDENTITY_DIR`: the service's own `<service>.key` (PKCS#8 PEM)
//! and the public `<service>.pub` (SPKI PEM) of every service it may admit — what `openssl
//! genpkey -algorithm ed25519` and `openssl pkey -pubout` write, or [`generate`]. A caller's name
//! is the key's file name, so a credential names its caller only if the callee holds that
//! caller's public key.

use crate::error::ApiError;
use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE},
    middleware::Next,
    response::{IntoResponse, Response},
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// The `WWW-Authenticate` challenge of the guard's 401 and 403 (RFC 9110 §11.6.1): the `service`
/// realm, which a proxy tells apart from a refusal of the end user's own token.
pub const CHALLENGE: &str = "Bearer realm=\"service\"";

/// The request header that carries a caller's credential, `Bearer <JWT>`. `Authorization` stays
/// the end user's: the gateway forwards it, and a service may check both.
pub const SERVICE_AUTHORIZATION: &str = "service-authorization";

/// How long a credential is valid, in seconds.
const LIFETIME: u64 = 60;
/// When a caller signs a new credential for a callee: half-way, so one in use never expires
/// in flight.
const REISSUE_AFTER: Duration = Duration::from_secs(LIFETIME / 2);
/// The clock difference tolerated between two hosts, in seconds.
const LEEWAY: u64 = 5;
/// The longest lifetime a credential may claim: a leaked one is useful for minutes, not days.
const MAX_LIFETIME: u64 = 300;
/// Credentials whose signature was checked, remembered until they expire: a callee verifies each
/// caller's credential about once per half-minute, not once per call.
const VERIFIED_CAPACITY: usize = 4096;

/// `SERVICE_IDENTITY_DIR`, for a service's `Config` (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Service identity")]
pub struct IdentityArgs {
    /// Directory of service identities: this service's Ed25519 private key, `<service>.key`
    /// (PKCS#8 PEM), and the public key, `<service>.pub` (SPKI PEM), of each service it admits.
    /// Every call to another service is signed with the key; every route but `/healthz` admits
    /// only the callers its access table names. Unset: no call is signed, and those routes answer
    /// 401.
    #[arg(long, env = "SERVICE_IDENTITY_DIR")]
    pub service_identity_dir: Option<PathBuf>,
}

/// A key file that cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file or directory cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an Ed25519 key in PEM.
    #[error("{}: not an Ed25519 key in PEM ({reason})", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A new key could not be made.
    #[error("making a key for {service}: {reason}")]
    Generate {
        /// The service the key was for.
        service: String,
        /// Why.
        reason: String,
    },
}

/// A service's identity: its name, the key it signs its calls with, and the public keys of the
/// services it may admit. Cheap to clone.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    name: &'static str,
    key: Option<EncodingKey>,
    peers: HashMap<String, Vec<DecodingKey>>,
    issued: Mutex<HashMap<&'static str, (HeaderValue, Instant)>>,
    verified: Mutex<HashMap<String, (String, u64)>>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut peers: Vec<_> = self.inner.peers.keys().collect();
        peers.sort();
        f.debug_struct("Identity")
            .field("name", &self.inner.name)
            .field("signs", &self.inner.key.is_some())
            .field("peers", &peers)
            .finish()
    }
}

/// The claims of a credential: the caller (`iss`, `sub`), the callee (`aud`), when it was signed
/// and until when it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    iat: u64,
    exp: u64,
}

impl Identity {
    /// The identity of the service `name` from `SERVICE_IDENTITY_DIR`; without one (with a
    /// warning), an identity that signs nothing and admits no one.
    pub fn load(args: &IdentityArgs, name: &'static str) -> Result<Self, IdentityError> {
        match &args.service_identity_dir {
            Some(dir) => Self::from_dir(dir, name),
            None => {
                tracing::warn!(
                    "SERVICE_IDENTITY_DIR is not set: {name} signs none of its calls, and its \
                     routes that admit only named services answer 401"
                );
                Ok(Self::anonymous(name))
            }
        }
    }

    /// The identity of the service `name` from the key files in `dir`: `<name>.key` is required,
    /// every `*.pub` is a service it may admit. A service may have several public keys —
    /// `<service>.pub` and `<service>.<anything>.pub` — so that a key is rotated without a
    /// refusal: the new public key is added, the callees restarted, then the caller, then the old
    /// key removed.
    pub fn from_dir(dir: &Path, name: &'static str) -> Result<Self, IdentityError> {
        let key_path = dir.join(format!("{name}.key"));
        let key = private_key(&key_path)?;
        let mut peers = HashMap::new();
        let entries = std::fs::read_dir(dir).map_err(|source| IdentityError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| IdentityError::Io {
                    path: dir.to_owned(),
                    source,
                })?
                .path();
            let Some(peer) = path
                .extension()
                .filter(|extension| *extension == "pub")
                .and(path.file_stem())
                .and_then(|stem| stem.to_str())
                .and_then(|stem| stem.split('.').next())
            else {
                continue;
            };
            peers
                .entry(peer.to_owned())
                .or_insert_with(Vec::new)
                .push(public_key(&path)?);
        }
        Ok(Self::new(name, Some(key), peers))
    }

    /// An identity that signs nothing and admits no one (tests of what it refuses).
    pub fn anonymous(name: &'static str) -> Self {
        Self::new(name, None, HashMap::new())
    }

    fn new(
        name: &'static str,
        key: Option<EncodingKey>,
        peers: HashMap<String, Vec<DecodingKey>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                name,
                key,
                peers,
                issued: Mutex::default(),
                verified: Mutex::default(),
            }),
        }
    }

    /// The service's name, as its credentials state it.
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The `Service-Authorization` value for a call to `callee` (its `service.name`); `None`
    /// when this identity has no key.
    pub fn credential_for(&self, callee: &'static str) -> Option<HeaderValue> {
        let key = self.inner.key.as_ref()?;
        let mut issued = self
            .inner
            .issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((value, at)) = issued.get(callee)
            && at.elapsed() < REISSUE_AFTER
        {
            return Some(value.clone());
        }
        let name = self.inner.name;
        let now = unix_now();
        let claims = Claims {
            iss: name.to_owned(),
            sub: name.to_owned(),
            aud: callee.to_owned(),
            iat: now,
            exp: now + LIFETIME,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(name.to_owned());
        let token = match jsonwebtoken::encode(&header, &claims, key) {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(%error, callee, "signing a service credential failed");
                return None;
            }
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .expect("a JWT is base64url and dots: a valid header value");
        value.set_sensitive(true);
        issued.insert(callee, (value.clone(), Instant::now()));
        Some(value)
    }

    /// The caller a request's `Service-Authorization` proves: a credential signed by a service
    /// whose public key this identity holds, for this service, neither expired nor issued in the
    /// future.
    pub fn verify(&self, headers: &HeaderMap) -> Result<String, Refusal> {
        let value = headers.get(SERVICE_AUTHORIZATION).ok_or(Refusal::Missing)?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Refusal::Malformed)?;
        let now = unix_now();
        let verified = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((caller, exp)) = verified.get(token)
            && now <= exp + LEEWAY
        {
            return Ok(caller.clone());
        }
        drop(verified);
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        let caller = header.kid.ok_or(Refusal::Malformed)?;
        let keys = self
            .inner
            .peers
            .get(&caller)
            .ok_or_else(|| Refusal::UnknownCaller(claimed(&caller)))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY;
        validation.set_audience(&[self.inner.name]);
        validation.set_issuer(&[&caller]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let refused = |reason: &str| Refusal::Invalid {
            caller: caller.clone(),
            reason: reason.to_owned(),
        };
        // Any of the caller's keys (more than one while a key is rotated).
        let mut decoded = Err(refused("no key"));
        for key in keys {
            decoded = jsonwebtoken::decode::<Claims>(token, key, &validation)
                .map_err(|error| refused(&error.to_string()));
            if decoded.is_ok() {
                break;
            }
        }
        let claims = decoded?.claims;
        if claims.sub != caller {
            return Err(refused("subject is not the issuer"));
        }
        if claims.iat > now + LEEWAY {
            return Err(refused("issued in the future"));
        }
        if claims.exp.saturating_sub(claims.iat) > MAX_LIFETIME {
            return Err(refused("valid for too long"));
        }
        let mut verified = self
            .inner
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.retain(|_, (_, exp)| now <= *exp + LEEWAY);
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(token.to_owned(), (caller.clone(), claims.exp));
        Ok(caller)
    }
}

/// Why a request's caller is not known: each answered 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `Service-Authorization` header.
    Missing,
    /// Not `Bearer <JWT>`, or a JWT without the caller's name (`kid`).
    Malformed,
    /// Signed by a service whose public key this service does not hold.
    UnknownCaller(String),
    /// Signed in a caller's name, but not valid: wrong signature or audience, expired, issued in
    /// the future.
    Invalid {
        /// The service the credential names.
        caller: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => write!(f, "no service credential ({SERVICE_AUTHORIZATION} header)"),
            Self::Malformed => write!(f, "malformed service credential"),
            Self::UnknownCaller(caller) => write!(f, "unknown caller {caller}"),
            Self::Invalid { caller, reason } => {
                write!(f, "service credential of {caller} refused: {reason}")
            }
        }
    }
}

/// Who may call a route: one row of a service's access table, keyed by the route's path as it
/// is routed (`/api/payments/{id}`), for every method it has.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// The route's path template.
    pub route: &'static str,
    /// Its callers.
    pub callers: Callers,
}

/// The callers a route admits.
#[derive(Debug, Clone, Copy)]
pub enum Callers {
    /// Anyone, without a credential (health probes).
    Anyone,
    /// Only these services, each proven by its credential.
    Only(&'static [&'static str]),
}

impl Access {
    /// A route only `callers` may call.
    pub const fn only(route: &'static str, callers: &'static [&'static str]) -> Self {
        Self {
            route,
            callers: Callers::Only(callers),
        }
    }

    /// A route anyone may call.
    pub const fn anyone(route: &'static str) -> Self {
        Self {
            route,
            callers: Callers::Anyone,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.callers {
            Callers::Anyone => write!(f, "{} <- anyone", self.route),
            Callers::Only(callers) => write!(f, "{} <- {}", self.route, callers.join(", ")),
        }
    }
}

/// `router` with every route admitting only the callers `table` gives it: a missing or invalid
/// credential is answered 401, a proven caller the route's row does not name 403, a route with no
/// row 403 too (deny by default). The SERVER span records the proven caller
/// (`service.peer.name`); a refusal adds an event naming the caller and the rule.
pub fn guard<S>(router: Router<S>, identity: &Identity, table: &'static [Access]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let guard = Guard {
        identity: identity.clone(),
        table,
    };
    router.layer(axum::middleware::from_fn_with_state(guard, admit))
}

#[derive(Clone)]
struct Guard {
    identity: Identity,
    table: &'static [Access],
}

async fn admit(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    // Every route of a router behind the guard has a matched path; anything else (a nested
    // service) is refused rather than served unchecked.
    let Some(route) = route else {
        tracing::error!("no matched route behind the access guard: refused");
        return ApiError::new(StatusCode::FORBIDDEN, "no access rule for this route")
            .into_response();
    };
    let Some(rule) = guard.table.iter().find(|rule| rule.route == route) else {
        tracing::error!(route, "no access rule for the route: refused");
        return ApiError::new(StatusCode::FORBIDDEN, "no access rule for this route")
            .into_response();
    };
    let Callers::Only(callers) = rule.callers else {
        return next.run(request).await;
    };
    let caller = match guard.identity.verify(request.headers()) {
        Ok(caller) => caller,
        Err(refusal) => {
            // Not proven: the name a credential claims, as claimed, kept short.
            let claimed = match &refusal {
                Refusal::UnknownCaller(caller) | Refusal::Invalid { caller, .. } => caller.as_str(),
                Refusal::Missing | Refusal::Malformed => "",
            };
            tracing::warn!(
                access.claimed_caller = claimed,
                access.rule = %rule,
                access.reason = %refusal,
                "caller refused: not authenticated"
            );
            // The challenge names the service realm, so a proxy can tell this refusal from one
            // about an end user's own token.
            return ApiError::new(StatusCode::UNAUTHORIZED, refusal.to_string())
                .with_header(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE))
                .into_response();
        }
    };
    shared_tracing::http_server::record_caller(&caller);
    if !callers.contains(&caller.as_str()) {
        tracing::warn!(
            access.caller = caller.as_str(),
            access.rule = %rule,
            "caller refused: not allowed on this route"
        );
        let message = format!("{caller} may not call {}", rule.route);
        return ApiError::new(StatusCode::FORBIDDEN, message)
            .with_header(WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE))
            .into_response();
    }
    next.run(request).await
}

/// Makes an Ed25519 key pair for each of `services` in `dir` that has none yet —
/// `<service>.key` (PKCS#8 PEM, readable by its owner only) and `<service>.pub` (SPKI PEM) — and
/// leaves existing ones alone, so a restart keeps every identity.
pub fn generate(dir: &Path, services: &[&str]) -> Result<(), IdentityError> {
    use ed25519_dalek::{
        SigningKey,
        pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| IdentityError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for &service in services {
        let key_path = dir.join(format!("{service}.key"));
        if key_path.exists() {
            continue;
        }
        let failed = |reason: String| IdentityError::Generate {
            service: service.to_owned(),
            reason,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| failed(error.to_string()))?;
        let key = SigningKey::from_bytes(&seed);
        let private = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|error| failed(error.to_string()))?;
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|error| failed(error.to_string()))?;
        let pub_path = dir.join(format!("{service}.pub"));
        std::fs::write(&pub_path, public).map_err(io(&pub_path))?;
        write_private(&key_path, private.as_bytes()).map_err(io(&key_path))?;
    }
    Ok(())
}

/// Writes a private key readable by its owner only, through a temporary file renamed into place
/// (a reader never sees half a key).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let partial = path.with_extension("key.partial");
    // A partial file left by an interrupted run may have other permissions: start afresh.
    match std::fs::remove_file(&partial) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)
}

/// An Ed25519 private key from a PKCS#8 PEM file.
fn private_key(path: &Path) -> Result<EncodingKey, IdentityError> {
    use ed25519_dalek::{
        SigningKey,
        pkcs8::{DecodePrivateKey, EncodePrivateKey},
    };
    let der = SigningKey::from_pkcs8_pem(&read(path)?)
        .and_then(|key| key.to_pkcs8_der())
        .map_err(|error| IdentityError::Key {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    Ok(EncodingKey::from_ed_der(der.as_bytes()))
}

/// An Ed25519 public key from an SPKI PEM file.
fn public_key(path: &Path) -> Result<DecodingKey, IdentityError> {
    use ed25519_dalek::{VerifyingKey, pkcs8::DecodePublicKey};
    let key =
        VerifyingKey::from_public_key_pem(&read(path)?).map_err(|error| IdentityError::Key {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    Ok(DecodingKey::from_ed_der(key.as_bytes()))
}

fn read(path: &Path) -> Result<String, IdentityError> {
    std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
        path: path.to_owned(),
        source,
    })
}

/// A caller name taken from an unverified credential, cut to a length any service name fits in.
fn claimed(name: &str) -> String {
    name.chars().take(64).collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = "order-service";
    const PAYMENT: &str = "payment-service";

    fn identities() -> (tempfile::TempDir, Identity, Identity) {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[ORDER, PAYMENT]).unwrap();
        let order = Identity::from_dir(dir.path(), ORDER).unwrap();
        let payment = Identity::from_dir(dir.path(), PAYMENT).unwrap();
        (dir, order, payment)
    }

    fn headers(value: HeaderValue) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SERVICE_AUTHORIZATION, value);
        headers
    }

    fn signed(key: &Path, claims: &Claims, kid: &str) -> HeaderMap {
        let key = private_key(key).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(&header, claims, &key).unwrap();
        headers(HeaderValue::from_str(&format!("Bearer {token}")).unwrap())
    }

    #[test]
    fn a_credential_proves_its_caller_to_its_callee_only() {
        let (_dir, order, payment) = identities();
        let credential = order.credential_for(PAYMENT).unwrap();
        assert!(credential.is_sensitive());
        assert_eq!(
            payment.verify(&headers(credential.clone())),
            Ok(ORDER.into())
        );
        // Cached: the same credential again, and the same value for the next call.
        assert_eq!(
            payment.verify(&headers(credential.clone())),
            Ok(ORDER.into())
        );
        assert_eq!(order.credential_for(PAYMENT), Some(credential));
        // Made for payment-service: order-service itself refuses it.
        let for_payment = payment.credential_for(ORDER).unwrap();
        let misdirected = order.credential_for(PAYMENT).unwrap();
        assert!(matches!(
            order.verify(&headers(misdirected)),
            Err(Refusal::Invalid { caller, .. }) if caller == ORDER
        ));
        assert_eq!(order.verify(&headers(for_payment)), Ok(PAYMENT.into()));
    }

    #[test]
    fn missing_malformed_unknown_and_forged_credentials_are_refused() {
        let (dir, order, payment) = identities();
        assert_eq!(payment.verify(&HeaderMap::new()), Err(Refusal::Missing));
        for value in [
            "Basic abc",
            "Bearer",
            "Bearer not.a.jwt",
            "Bearer eyJhbGciOiJub25lIn0.e30.",
        ] {
            assert_eq!(
                payment.verify(&headers(HeaderValue::from_static(value))),
                Err(Refusal::Malformed),
                "{value}"
            );
        }
        // A key of its own, in a name payment-service has no public key for.
        let other = tempfile::tempdir().unwrap();
        generate(other.path(), &["mallory"]).unwrap();
        let mallory = Identity::from_dir(other.path(), "mallory").unwrap();
        let credential = mallory.credential_for(PAYMENT).unwrap();
        assert_eq!(
            payment.verify(&headers(credential)),
            Err(Refusal::UnknownCaller("mallory".into()))
        );
        // The same key claiming to be order-service: the signature does not match its key.
        let now = unix_now();
        let claims = |iat: u64, exp: u64| Claims {
            iss: ORDER.into(),
            sub: ORDER.into(),
            aud: PAYMENT.into(),
            iat,
            exp,
        };
        let forged = signed(
            &other.path().join("mallory.key"),
            &claims(now, now + 60),
            ORDER,
        );
        assert!(matches!(
            payment.verify(&forged),
            Err(Refusal::Invalid { .. })
        ));
        // order-service's own key, but expired, from the future, or for too long.
        let key = dir.path().join("order-service.key");
        for (iat, exp) in [
            (now - 600, now - 300),
            (now + 120, now + 180),
            (now, now + 3600),
        ] {
            let refused = payment.verify(&signed(&key, &claims(iat, exp), ORDER));
            assert!(
                matches!(refused, Err(Refusal::Invalid { .. })),
                "{iat} {exp}"
            );
        }
        assert_eq!(
            payment.verify(&signed(&key, &claims(now, now + 60), ORDER)),
            Ok(ORDER.into())
        );
        // No key, no credential.
        assert_eq!(Identity::anonymous(ORDER).credential_for(PAYMENT), None);
        drop(order);
    }

    #[test]
    fn a_caller_with_two_public_keys_is_admitted_with_either_while_its_key_rotates() {
        let (dir, old, _) = identities();
        let rotated = tempfile::tempdir().unwrap();
        generate(rotated.path(), &[ORDER]).unwrap();
        std::fs::copy(
            rotated.path().join("order-service.pub"),
            dir.path().join("order-service.2026-12.pub"),
        )
        .unwrap();
        let payment = Identity::from_dir(dir.path(), PAYMENT).unwrap();
        let new = Identity::from_dir(rotated.path(), ORDER).unwrap();
        for caller in [&old, &new] {
            let credential = caller.credential_for(PAYMENT).unwrap();
            assert_eq!(payment.verify(&headers(credential)), Ok(ORDER.into()));
        }
    }

    #[test]
    fn generating_keeps_existing_keys_and_hides_private_ones() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &[ORDER]).unwrap();
        let first = std::fs::read(dir.path().join("order-service.key")).unwrap();
        generate(dir.path(), &[ORDER, PAYMENT]).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("order-service.key")).unwrap(),
            first
        );
        let mode = std::fs::metadata(dir.path().join("payment-service.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            String::from_utf8(first)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }
}
