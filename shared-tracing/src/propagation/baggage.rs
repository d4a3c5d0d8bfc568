//! W3C Baggage, strictly: every `baggage` header of a request read (the SDK reads only the
//! first), each list-member checked against the grammar — a token key, `=`, a value of baggage
//! octets or percent-escapes, optional `;` properties — and a malformed one dropped alone; past
//! the limits of 64 members and 8192 bytes the later members are dropped and the first ones
//! kept. The SDK's propagator does the rest: decoding and injection.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
};
use opentelemetry_sdk::propagation::BaggagePropagator;

const BAGGAGE: &str = "baggage";
/// The W3C Baggage limits: list-members, and bytes of the whole header.
const MAX_MEMBERS: usize = 64;
const MAX_BYTES: usize = 8192;

/// The W3C Baggage propagator with strict extraction.
#[derive(Debug, Default)]
pub struct W3cBaggage(BaggagePropagator);

impl W3cBaggage {
    /// The propagator.
    pub fn new() -> Self {
        Self(BaggagePropagator::new())
    }
}

/// The valid members of every `baggage` header, as one header for the SDK to decode.
struct Combined(String);

impl Extractor for Combined {
    fn get(&self, key: &str) -> Option<&str> {
        (key == BAGGAGE && !self.0.is_empty()).then_some(self.0.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        vec![BAGGAGE]
    }
}

impl TextMapPropagator for W3cBaggage {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(values) = extractor.get_all(BAGGAGE) else {
            return cx.clone();
        };
        // Within the specification's limits, so that the SDK, which drops a whole header past
        // 8192 bytes, keeps what fits: the first members, up to 64 and 8192 bytes.
        let mut combined = String::new();
        let valid = values
            .iter()
            .flat_map(|value| value.split(','))
            .map(|member| member.trim_matches([' ', '\t']))
            .filter(|member| valid_member(member))
            .map(escape_equals);
        for member in valid.take(MAX_MEMBERS) {
            let separator = usize::from(!combined.is_empty());
            if combined.len() + separator + member.len() > MAX_BYTES {
                break;
            }
            if separator == 1 {
                combined.push(',');
            }
            combined.push_str(&member);
        }
        self.0.extract_with_context(cx, &Combined(combined))
    }

    fn fields(&self) -> FieldIter<'_> {
        self.0.fields()
    }
}

/// The member with any `=` inside its value percent-escaped: `=` is a baggage octet, but the
/// SDK's decoder would cut the value at it.
fn escape_equals(member: &str) -> String {
    let (pair, properties) = member
        .split_once(';')
        .map_or((member, None), |(p, r)| (p, Some(r)));
    let (key, value) = pair
        .split_once('=')
        .expect("a valid member has a key and a value");
    let mut escaped = format!("{key}={}", value.replace('=', "%3D"));
    if let Some(properties) = properties {
        escaped.push(';');
        escaped.push_str(properties);
    }
    escaped
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`, property `key OWS "=" OWS value` or `key`.
fn valid_member(member: &str) -> bool {
    let mut parts = member.split(';');
    let Some((key, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
        return false;
    };
    valid_key(key) && valid_value(value) && parts.all(valid_property)
}

fn valid_property(property: &str) -> bool {
    match property.split_once('=') {
        Some((key, value)) => valid_key(key) && valid_value(value),
        None => valid_key(property),
    }
}

/// An RFC 9110 token, with optional spaces and tabs around it.
fn valid_key(key: &str) -> bool {
    let key = key.trim_matches([' ', '\t']);
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Baggage octets (`0x21`, `0x23-2B`, `0x2D-3A`, `0x3C-5B`, `0x5D-7E`) and `%XX` escapes, with
/// optional spaces and tabs around them.
fn valid_value(value: &str) -> bool {
    let bytes = value.trim_matches([' ', '\t']).as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = bytes.get(i + 1..i + 3);
                if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry_http::HeaderExtractor;

    fn received(headers: &[&str]) -> Vec<(String, String)> {
        let mut map = HeaderMap::new();
        for value in headers {
            map.append(BAGGAGE, HeaderValue::from_str(value).unwrap());
        }
        let cx = W3cBaggage::new().extract(&HeaderExtractor(&map));
        let mut entries: Vec<(String, String)> = cx
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        entries.sort();
        entries
    }

    fn pairs(entries: &[(&str, &str)]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_header_is_read_and_members_are_decoded() {
        assert_eq!(
            received(&["a=1, b = 2", "c=hello%20world;prop=1;flag"]),
            pairs(&[("a", "1"), ("b", "2"), ("c", "hello world")])
        );
    }

    #[test]
    fn a_malformed_member_is_dropped_alone() {
        for bad in [
            "no-equals",
            "=value",
            "bad key=1",
            "k=quote\"d",
            "k=back\\slash",
            "k=%zz",
            "k=v;bad prop=1",
        ] {
            assert_eq!(
                received(&[&format!("{bad},ok=1")]),
                pairs(&[("ok", "1")]),
                "{bad}"
            );
        }
        assert_eq!(
            received(&["k=1=2"]),
            pairs(&[("k", "1=2")]),
            "`=` is a baggage octet, kept whole"
        );
    }

    #[test]
    fn the_limits_hold_across_headers() {
        // 100 distinct members over two headers: the first 64 are kept, in header order.
        let many: Vec<String> = (0..100).map(|i| format!("k{i}=v")).collect();
        let (first, second) = many.split_at(50);
        let entries = received(&[&first.join(","), &second.join(",")]);
        assert_eq!(entries.len(), 64, "{entries:?}");
        for kept in ["k0", "k49", "k50", "k63"] {
            assert!(entries.iter().any(|(k, _)| k == kept), "{kept}");
        }
        assert!(!entries.iter().any(|(k, _)| k == "k64"));

        // Nine members of 1000 bytes: only as many as fit in 8192 bytes are kept.
        let big: Vec<String> = (0..9)
            .map(|i| format!("b{i}={}", "x".repeat(1000)))
            .collect();
        let entries = received(&[&big.join(",")]);
        let bytes: usize = entries.iter().map(|(k, v)| k.len() + v.len() + 1).sum();
        assert!(bytes <= 8192, "{bytes}");
        assert_eq!(entries.len(), 8, "{}", entries.len());

        // Repeated keys across headers collapse to one entry each.
        let twice = (0..40)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(received(&[&twice, &twice]).len(), 40);
    }
}
