//! JWT issuing and verification (HS256).

use crate::config::DEV_JWT_SECRET;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The claims this service signs: subject (user id as a string), username, issue and expiry.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) name: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

/// Signing and verification keys derived from the secret.
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Keys {
    pub(crate) fn new(secret: &SecretString, ttl: Duration) -> Self {
        // An empty value (e.g. `AUTH_JWT_SECRET=` from compose) counts as unset: never sign with "".
        let secret = match secret.expose_secret() {
            "" => DEV_JWT_SECRET,
            secret => secret,
        };
        if secret == DEV_JWT_SECRET {
            tracing::warn!(
                "AUTH_JWT_SECRET is not set: tokens are signed with the PUBLIC development secret. \
                 Anyone can forge them. Set AUTH_JWT_SECRET before exposing this service."
            );
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl,
        }
    }

    pub(crate) fn issue(
        &self,
        user_id: i64,
        username: &str,
    ) -> jsonwebtoken::errors::Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub(crate) fn verify(&self, token: &str) -> jsonwebtoken::errors::Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::errors::ErrorKind;

    fn keys(secret: &str, ttl: u64) -> Keys {
        Keys::new(&SecretString::from(secret), Duration::from_secs(ttl))
    }

    #[test]
    fn issued_tokens_verify_and_carry_the_subject() {
        let keys = keys("test-secret", 60);
        let claims = keys.verify(&keys.issue(7, "alice").unwrap()).unwrap();
        assert_eq!((claims.sub.as_str(), claims.name.as_str()), ("7", "alice"));
    }

    #[test]
    fn an_empty_secret_falls_back_to_the_development_secret() {
        let token = keys("", 60).issue(1, "alice").unwrap();
        assert!(keys(DEV_JWT_SECRET, 60).verify(&token).is_ok());
        assert!(keys("other", 60).verify(&token).is_err());
    }

    #[test]
    fn tokens_signed_with_another_secret_or_expired_are_rejected() {
        let token = keys("one", 60).issue(1, "alice").unwrap();
        assert_eq!(
            keys("two", 60).verify(&token).unwrap_err().kind(),
            &ErrorKind::InvalidSignature
        );
        let mut expired = keys("one", 60);
        expired.validation.leeway = 0;
        let claims = Claims {
            sub: "1".into(),
            name: "alice".into(),
            iat: 1,
            exp: 2,
        };
        let old = jsonwebtoken::encode(&Header::default(), &claims, &expired.encoding).unwrap();
        assert_eq!(
            expired.verify(&old).unwrap_err().kind(),
            &ErrorKind::ExpiredSignature
        );
    }
}
