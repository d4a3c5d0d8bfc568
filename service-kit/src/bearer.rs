//! Bearer tokens (RFC 6750) from the `Authorization` header, read one way by every service.

use http::{HeaderMap, header::AUTHORIZATION};

/// The token of an `Authorization: Bearer <token>` header, if the request has one. The scheme is
/// case-insensitive (RFC 9110 §11.1): `bearer`, `Bearer` and `BEARER` all name it.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        token(&headers).map(str::to_owned)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_required() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc "] {
            assert_eq!(token_of(value).as_deref(), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", ""] {
            assert_eq!(token_of(value), None, "{value}");
        }
        assert_eq!(token(&HeaderMap::new()), None);
    }
}
