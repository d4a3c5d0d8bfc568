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
        // HS256 only: `none` and every other algorithm (RS256 with this secret as a "public
        // key", HS512, ...) are refused. `exp` is required; a token not valid yet (`nbf`) is too.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_nbf = true;
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

    /// The claims of a token this service signed that is valid now. Besides the signature, `exp`
    /// and `nbf`, a token issued in the future (`iat` past the clock's leeway) is refused: this
    /// service never signs one, so it was signed with a stolen key or by a skewed clock.
    pub(crate) fn verify(&self, token: &str) -> jsonwebtoken::errors::Result<Claims> {
        let claims =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if claims.iat > now + self.validation.leeway {
            return Err(jsonwebtoken::errors::ErrorKind::ImmatureSignature.into());
        }
        Ok(claims)
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

    /// `header.claims.signature`, base64url without padding, as a forger would write it.
    fn forged(header: &str, claims: &str, signature: &[u8]) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn forged_tampered_and_not_yet_valid_tokens_are_refused() {
        let keys = keys("the-secret", 60);
        let far = 4_000_000_000u64;
        let claims = format!(r#"{{"sub":"1","name":"alice","iat":1,"exp":{far}}}"#);
        // alg: none, with and without a signature.
        for signature in [&b""[..], b"x"] {
            let token = forged(r#"{"alg":"none","typ":"JWT"}"#, &claims, signature);
            assert!(keys.verify(&token).is_err(), "{token}");
        }
        // Algorithm confusion: the HMAC secret used with another algorithm's name.
        for algorithm in [Algorithm::HS512, Algorithm::HS384] {
            let token = jsonwebtoken::encode(
                &Header::new(algorithm),
                &Claims {
                    sub: "1".into(),
                    name: "alice".into(),
                    iat: 1,
                    exp: far,
                },
                &keys.encoding,
            )
            .unwrap();
            assert!(keys.verify(&token).is_err(), "{algorithm:?}");
        }
        let good = keys.issue(1, "alice").unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let rs256 = format!(
            "{}.{}.{}",
            forged(r#"{"alg":"RS256","typ":"JWT"}"#, "", b"")
                .split('.')
                .next()
                .unwrap(),
            parts[1],
            parts[2]
        );
        assert!(
            keys.verify(&rs256).is_err(),
            "RS256 header on an HS256 signature"
        );
        // A tampered payload (another subject) under the original signature.
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            forged(
                "",
                r#"{"sub":"2","name":"bob","iat":1,"exp":4000000000}"#,
                b""
            )
            .split('.')
            .nth(1)
            .unwrap(),
            parts[2]
        );
        assert_eq!(
            keys.verify(&tampered).unwrap_err().kind(),
            &ErrorKind::InvalidSignature
        );
        // Not valid yet.
        #[derive(Serialize)]
        struct Early {
            sub: &'static str,
            name: &'static str,
            iat: u64,
            exp: u64,
            nbf: u64,
        }
        let early = jsonwebtoken::encode(
            &Header::default(),
            &Early {
                sub: "1",
                name: "alice",
                iat: 1,
                exp: far,
                nbf: far - 10,
            },
            &keys.encoding,
        )
        .unwrap();
        assert_eq!(
            keys.verify(&early).unwrap_err().kind(),
            &ErrorKind::ImmatureSignature
        );
        // Issued in the future.
        let future = jsonwebtoken::encode(
            &Header::default(),
            &Claims {
                sub: "1".into(),
                name: "alice".into(),
                iat: far - 60,
                exp: far,
            },
            &keys.encoding,
        )
        .unwrap();
        assert_eq!(
            keys.verify(&future).unwrap_err().kind(),
            &ErrorKind::ImmatureSignature
        );
        assert!(keys.verify(&good).is_ok());
    }
}
