//! W3C Trace Context Level 2 to the letter, for HTTP and NATS headers alike: the propagator that
//! replaces the SDK's, which reads only the first of repeated headers, does not check field
//! widths, holds `tracestate` keys to an outdated grammar and drops the random flag.
//!
//! - `traceparent`: lowercase hex of exact widths; version `ff` invalid; version `00` exactly 55
//!   characters; a higher version read by its `00` prefix (what follows must start with `-`);
//!   all-zero ids invalid; surrounding spaces and tabs ignored. A repeated or invalid
//!   `traceparent` starts a new trace.
//! - `tracestate`: repeated headers combined in order; members per the Level 2 grammar
//!   (`[0-9a-z][_0-9a-z-*/@]{0,255}` `=` 1 to 256 printable characters, not ending in a space),
//!   at most 32 (more, or any malformed member, and the whole header is dropped); a repeated key
//!   keeps its first value; over 512 characters, the longest members (over 128) go first, then
//!   the last ones. Never sent empty. It is only kept with a valid `traceparent`.
//! - The random flag (`0x02`): kept from the parent; set on traces started here (their trace ids
//!   come from a random generator). The SDK drops it for spans it does not sample, so what was
//!   received is kept in the context beside the span.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use std::str::FromStr;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The `sampled` flag.
const SAMPLED: u8 = 0x01;
/// The Level 2 `random-trace-id` flag.
const RANDOM: u8 = 0x02;
/// Members a `tracestate` may have.
const MAX_MEMBERS: usize = 32;
/// The length a `tracestate` is cut to, and the members cut first past it.
const MAX_TRACESTATE_CHARS: usize = 512;
const LONG_MEMBER_CHARS: usize = 128;

/// The W3C Trace Context propagator (Level 2, strict).
#[derive(Debug, Default, Clone, Copy)]
pub struct W3cTraceContext;

/// What a valid `traceparent` said beyond the span context, kept in the context of the spans
/// below it: whether its trace id is random, and the `tracestate` exactly as received (the SDK's
/// `TraceState` refuses some keys Level 2 allows).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    trace_id: TraceId,
    random: bool,
    tracestate: Option<String>,
}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    /// The trace.
    pub trace_id: TraceId,
    /// The caller's span.
    pub parent_id: SpanId,
    /// `sampled` (0x01) and `random` (0x02); other bits are dropped.
    pub flags: u8,
}

impl TextMapPropagator for W3cTraceContext {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let received = cx
            .get::<Received>()
            .filter(|r| r.trace_id == span_context.trace_id());
        let flags = span_context.trace_flags().to_u8();
        // A trace continued from elsewhere is as random as its sender said; a span context handed
        // in from outside as it says; a trace started here is random.
        let random = flags & RANDOM != 0
            || match received {
                Some(received) => received.random,
                None => !span_context.is_remote(),
            };
        let flags = (flags & SAMPLED) | if random { RANDOM } else { 0 };
        injector.set(
            TRACEPARENT,
            super::header_value(span_context.trace_id(), span_context.span_id(), flags),
        );
        let tracestate = match received {
            Some(received) => received.tracestate.clone(),
            None => Some(span_context.trace_state().header()).filter(|h| !h.is_empty()),
        };
        if let Some(tracestate) = tracestate {
            injector.set(TRACESTATE, tracestate);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let parents = extractor.get_all(TRACEPARENT).unwrap_or_default();
        // None, or several: nothing to continue.
        let [parent] = parents.as_slice() else {
            return cx.clone();
        };
        let Some(parent) = parse_traceparent(parent) else {
            return cx.clone();
        };
        let tracestate = extractor
            .get_all(TRACESTATE)
            .and_then(|values| parse_tracestate(&values));
        // The SDK's own TraceState, where it accepts the members (samplers may read it).
        let sdk_state = tracestate
            .as_deref()
            .and_then(|header| TraceState::from_str(header).ok())
            .unwrap_or_default();
        let span_context = SpanContext::new(
            parent.trace_id,
            parent.parent_id,
            TraceFlags::new(parent.flags),
            true,
            sdk_state,
        );
        cx.with_remote_span_context(span_context)
            .with_value(Received {
                trace_id: parent.trace_id,
                random: parent.flags & RANDOM != 0,
                tracestate,
            })
    }

    fn fields(&self) -> FieldIter<'_> {
        static NAMES: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
        FieldIter::new(NAMES.get_or_init(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]))
    }
}

/// Parses one `traceparent` value; `None` when it is not valid.
pub fn parse_traceparent(value: &str) -> Option<Traceparent> {
    let value = value.trim_matches([' ', '\t']);
    if !value.is_ascii() || value.len() < 55 {
        return None;
    }
    let bytes = value.as_bytes();
    let version = lower_hex(&value[0..2])? as u8;
    let widths_ok = bytes[2] == b'-' && bytes[35] == b'-' && bytes[52] == b'-';
    let rest_ok = match version {
        0xff => false,
        0x00 => value.len() == 55,
        // A later version: read as 00, and whatever it adds must come after a dash.
        _ => value.len() == 55 || bytes[55] == b'-',
    };
    if !widths_ok || !rest_ok {
        return None;
    }
    let trace_id = lower_hex(&value[3..35])?;
    let parent_id = lower_hex(&value[36..52])? as u64;
    let flags = lower_hex(&value[53..55])? as u8;
    (trace_id != 0 && parent_id != 0).then(|| Traceparent {
        trace_id: TraceId::from(trace_id),
        parent_id: SpanId::from(parent_id),
        flags: flags & (SAMPLED | RANDOM),
    })
}

/// Lowercase hex digits only (no sign, no uppercase), as a number.
fn lower_hex(digits: &str) -> Option<u128> {
    digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then(|| u128::from_str_radix(digits, 16).ok())
        .flatten()
}

/// Combines the `tracestate` header values into the one to propagate: `None` when there is
/// nothing valid to keep.
pub fn parse_tracestate(values: &[&str]) -> Option<String> {
    let mut members: Vec<(&str, &str)> = Vec::new();
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            if !members.iter().any(|(k, _)| *k == key) {
                members.push((key, value));
            }
        }
    }
    if members.is_empty() || members.len() > MAX_MEMBERS {
        return None;
    }
    let mut members: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let length = |members: &[String]| members.iter().map(|m| m.len() + 1).sum::<usize>() - 1;
    // Over the limit: the longest members go first (the last of them first), then the last ones.
    while length(&members) > MAX_TRACESTATE_CHARS {
        match members.iter().rposition(|m| m.len() > LONG_MEMBER_CHARS) {
            Some(long) => members.remove(long),
            None => members.pop().expect("a member over the limit"),
        };
    }
    Some(members.join(","))
}

/// `[0-9a-z][_0-9a-z-*/@]{0,255}`.
fn valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=256).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@')
        })
}

/// 1 to 256 of `0x20-0x7e` except `,` and `=`, the last not a space.
fn valid_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    (1..=256).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && bytes.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    //! The official harness's cases (w3c/trace-context `test/test.py`, SPEC_LEVEL=2
    //! STRICT_LEVEL=2), same inputs and expectations, against this propagator: headers in, the
    //! service's own span (as the SDK makes it), headers out.
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};
    use opentelemetry::{
        propagation::TextMapPropagator,
        trace::{Tracer, TracerProvider},
    };
    use opentelemetry_http::{HeaderExtractor, HeaderInjector};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use proptest::prelude::*;

    const ID: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    /// What the service sends on after receiving `headers`: its traceparent and tracestate.
    fn through(headers: &[(&str, &str)]) -> (Traceparent, Option<String>) {
        let mut received = HeaderMap::new();
        for (name, value) in headers {
            received.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let cx = W3cTraceContext.extract(&HeaderExtractor(&received));
        // The service's own span, made by the SDK (parent-based sampling, as the services run).
        let provider = SdkTracerProvider::builder().build();
        let own = provider.tracer("test").start_with_context("own", &cx);
        let mut sent = HeaderMap::new();
        W3cTraceContext.inject_context(&cx.with_span(own), &mut HeaderInjector(&mut sent));
        assert_eq!(sent.get_all(TRACEPARENT).iter().count(), 1, "{sent:?}");
        let traceparent = parse_traceparent(sent[TRACEPARENT].to_str().unwrap()).unwrap();
        let tracestate = sent.get(TRACESTATE).map(|v| v.to_str().unwrap().to_owned());
        assert_ne!(tracestate.as_deref(), Some(""), "never an empty tracestate");
        (traceparent, tracestate)
    }

    fn continues(headers: &[(&str, &str)]) -> bool {
        let (sent, _) = through(headers);
        assert_ne!(
            sent.parent_id,
            SpanId::from(u64::from_str_radix(PARENT, 16).unwrap())
        );
        sent.trace_id == TraceId::from_hex(ID).unwrap()
    }

    fn state(headers: &[(&str, &str)]) -> Option<String> {
        through(headers).1
    }

    fn tp(flags: &str) -> String {
        format!("00-{ID}-{PARENT}-{flags}")
    }

    #[test]
    fn traceparent_present_or_missing() {
        assert!(!continues(&[]));
        assert!(continues(&[("traceparent", &tp("01"))]));
        assert!(continues(&[("TraceParent", &tp("01"))]));
        assert!(continues(&[("TrAcEpArEnT", &tp("01"))]));
        assert!(continues(&[("TRACEPARENT", &tp("01"))]));
        assert!(!continues(&[("trace-parent", &tp("01"))]));
        assert!(!continues(&[("trace.parent", &tp("01"))]));
    }

    #[test]
    fn a_duplicated_traceparent_starts_a_new_trace() {
        let (sent, _) = through(&[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            ("traceparent", &tp("01")),
        ]);
        assert_ne!(sent.trace_id, TraceId::from_hex(ID).unwrap());
        assert_ne!(
            sent.trace_id,
            TraceId::from_hex("12345678901234567890123456789011").unwrap()
        );
    }

    #[test]
    fn traceparent_versions() {
        assert!(!continues(&[("traceparent", &format!("{}.", tp("01")))]));
        assert!(!continues(&[(
            "traceparent",
            &format!("{}-what-the-future-will-be-like", tp("01"))
        )]));
        let future = format!("cc-{ID}-{PARENT}-01");
        assert!(continues(&[("traceparent", &future)]));
        assert!(continues(&[(
            "traceparent",
            &format!("{future}-what-the-future-will-be-like")
        )]));
        assert!(!continues(&[(
            "traceparent",
            &format!("{future}.what-the-future-will-be-like")
        )]));
        for version in ["ff", ".0", "0.", "000", "0000", "0"] {
            let value = format!("{version}-{ID}-{PARENT}-01");
            assert!(!continues(&[("traceparent", &value)]), "{value}");
        }
    }

    #[test]
    fn traceparent_ids_and_flags_of_the_wrong_shape_start_a_new_trace() {
        for value in [
            format!("00-00000000000000000000000000000000-{PARENT}-01"),
            format!("00-.2345678901234567890123456789012-{PARENT}-01"),
            format!("00-1234567890123456789012345678901.-{PARENT}-01"),
            format!("00-123456789012345678901234567890123-{PARENT}-01"),
            format!("00-1234567890123456789012345678901-{PARENT}-01"),
            format!("00-{ID}-0000000000000000-01"),
            format!("00-{ID}-.234567890123456-01"),
            format!("00-{ID}-123456789012345.-01"),
            format!("00-{ID}-12345678901234567-01"),
            format!("00-{ID}-123456789012345-01"),
            format!("00-{ID}-{PARENT}-.0"),
            format!("00-{ID}-{PARENT}-0."),
            format!("00-{ID}-{PARENT}-001"),
            format!("00-{ID}-{PARENT}-1"),
            format!("00-{}-{PARENT}-01", ID.to_uppercase().replace('1', "A")),
        ] {
            let (sent, _) = through(&[("traceparent", &value)]);
            assert_ne!(sent.trace_id, TraceId::from_hex(ID).unwrap(), "{value}");
            assert_ne!(sent.trace_id, TraceId::INVALID, "{value}");
        }
    }

    #[test]
    fn spaces_and_tabs_around_traceparent_are_ignored() {
        for value in [
            format!(" {}", tp("01")),
            format!("\t{}", tp("01")),
            format!("{} ", tp("01")),
            format!("{}\t", tp("01")),
            format!("\t {} \t", tp("01")),
        ] {
            assert!(continues(&[("traceparent", &value)]), "{value:?}");
        }
    }

    #[test]
    fn tracestate_needs_a_traceparent_and_the_right_header_name() {
        assert_eq!(state(&[("tracestate", "foo=1")]), None);
        assert_eq!(state(&[("tracestate", "foo=1,bar=2")]), None);
        let parent = tp("00");
        let with = |name: &str, value: &str| state(&[("traceparent", &parent), (name, value)]);
        assert_eq!(
            with("tracestate", "foo=1,bar=2").as_deref(),
            Some("foo=1,bar=2")
        );
        assert_eq!(with("trace-state", "foo=1"), None);
        assert_eq!(with("trace.state", "foo=1"), None);
        for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
            assert_eq!(with(name, "foo=1").as_deref(), Some("foo=1"), "{name}");
        }
    }

    #[test]
    fn tracestate_headers_are_combined_in_order_and_empty_ones_dropped() {
        let parent = tp("00");
        assert_eq!(state(&[("traceparent", &parent), ("tracestate", "")]), None);
        for headers in [["foo=1", ""], ["", "foo=1"]] {
            assert_eq!(
                state(&[
                    ("traceparent", &parent),
                    ("tracestate", headers[0]),
                    ("tracestate", headers[1]),
                ])
                .as_deref(),
                Some("foo=1")
            );
        }
        assert_eq!(
            state(&[
                ("traceparent", &parent),
                ("tracestate", "foo=1,bar=2"),
                ("tracestate", "rojo=1,congo=2"),
                ("tracestate", "baz=3"),
            ])
            .as_deref(),
            Some("foo=1,bar=2,rojo=1,congo=2,baz=3")
        );
    }

    #[test]
    fn tracestate_duplicated_keys_keep_one_value() {
        let parent = tp("00");
        for headers in [
            vec!["foo=1,foo=1"],
            vec!["foo=1,foo=2"],
            vec!["foo=1", "foo=1"],
            vec!["foo=1", "foo=2"],
        ] {
            let mut all = vec![("traceparent", parent.as_str())];
            all.extend(headers.iter().map(|h| ("tracestate", *h)));
            assert_eq!(state(&all).as_deref(), Some("foo=1"), "{headers:?}");
        }
    }

    #[test]
    fn tracestate_grammar_and_spaces() {
        let parent = tp("00");
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e)
            .filter(|b| *b != b',' && *b != b'=')
            .map(char::from)
            .collect();
        for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
            let member = format!("{key}={value}");
            assert_eq!(
                state(&[("traceparent", &parent), ("tracestate", &member)]).as_deref(),
                Some(member.as_str())
            );
        }
        for value in [
            "foo=1 \t , \t bar=2, \t baz=3",
            "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
        ] {
            assert_eq!(
                state(&[("traceparent", &parent), ("tracestate", value)]).as_deref(),
                Some("foo=1,bar=2,baz=3")
            );
        }
        for value in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
            assert_eq!(
                state(&[("traceparent", &parent), ("tracestate", value)]).as_deref(),
                Some("foo=1"),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_malformed_member_drops_the_whole_tracestate() {
        let parent = tp("00");
        for value in [
            "foo =1",
            "FOO=1",
            "foo.bar=1",
            "@foo=1,bar=2",
            "foo=bar=baz",
            "foo=,bar=3",
        ] {
            assert_eq!(
                state(&[("traceparent", &parent), ("tracestate", value)]),
                None,
                "{value}"
            );
        }
        for (value, kept) in [
            ("foo@=1,bar=2", "foo@=1,bar=2"),
            ("foo@@bar=1,bar=2", "foo@@bar=1,bar=2"),
            ("foo@bar@baz=1,bar=2", "foo@bar@baz=1,bar=2"),
        ] {
            assert_eq!(
                state(&[("traceparent", &parent), ("tracestate", value)]).as_deref(),
                Some(kept)
            );
        }
    }

    #[test]
    fn tracestate_limits() {
        let parent = tp("00");
        let members =
            |n: usize| -> Vec<String> { (1..=n).map(|i| format!("bar{i:02}={i:02}")).collect() };
        let headers = |members: &[String]| -> Vec<String> {
            members.chunks(10).map(|chunk| chunk.join(",")).collect()
        };
        let send = |headers: &[String]| {
            let mut all = vec![("traceparent", parent.as_str())];
            all.extend(headers.iter().map(|h| ("tracestate", h.as_str())));
            state(&all)
        };
        let kept = send(&headers(&members(32))).unwrap();
        assert_eq!(kept.split(',').count(), 32);
        assert!(kept.starts_with("bar01=01,"));
        assert_eq!(send(&headers(&members(33))), None);

        for key in [
            "z".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("{}@v", "t".repeat(242)),
            format!("t@{}", "v".repeat(15)),
        ] {
            let kept = send(&["foo=1".to_owned(), format!("{key}=1")]);
            assert_eq!(kept, Some(format!("foo=1,{key}=1")), "{key}");
        }
        assert_eq!(
            send(&["foo=1".to_owned(), format!("{}=1", "z".repeat(257))]),
            None
        );
    }

    #[test]
    fn a_long_tracestate_loses_its_longest_members_first_then_its_last() {
        let long = format!("long={}", "x".repeat(200));
        let short: Vec<String> = (0..30)
            .map(|i| format!("k{i:02}={}", "y".repeat(10)))
            .collect();
        let mut members = vec![long];
        members.extend(short.iter().cloned());
        let kept = parse_tracestate(&[members.join(",").as_str()]).unwrap();
        assert!(kept.len() <= MAX_TRACESTATE_CHARS);
        assert!(
            !kept.contains("long="),
            "the member over 128 characters goes first"
        );
        assert!(kept.starts_with("k00="));
    }

    #[test]
    fn the_random_flag_is_kept_and_set_on_new_traces() {
        let (sent, _) = through(&[("traceparent", &tp("02"))]);
        assert_eq!(sent.trace_id, TraceId::from_hex(ID).unwrap());
        assert_eq!(
            sent.flags & RANDOM,
            RANDOM,
            "kept through an unsampled span"
        );
        let (sent, _) = through(&[("traceparent", &tp("03"))]);
        assert_eq!(sent.flags, SAMPLED | RANDOM);
        let (sent, _) = through(&[("traceparent", &tp("01"))]);
        assert_eq!(
            sent.flags, SAMPLED,
            "a trace id not said to be random is not made so"
        );
        let (sent, _) = through(&[]);
        assert_eq!(sent.flags & RANDOM, RANDOM, "ids made here are random");
        let (sent, _) = through(&[("traceparent", &tp("ff"))]);
        assert_eq!(
            sent.flags & !(SAMPLED | RANDOM),
            0,
            "unknown flags are not sent on"
        );
    }

    /// The specification's `traceparent` rules, restated independently of the parser: optional
    /// spaces or tabs around `version-trace_id-parent_id-flags` in lowercase hex of exact widths;
    /// version `ff` invalid; version `00` exactly that; a later version may go on after a `-`;
    /// all-zero ids invalid.
    fn valid_by_the_spec(header: &str) -> bool {
        let value = header.trim_matches([' ', '\t']);
        let hex = |part: &str, width: usize| {
            part.len() == width && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if value.len() < 55 || !value.is_char_boundary(55) {
            return false;
        }
        let (head, rest) = value.split_at(55);
        let parts: Vec<&str> = head.split('-').collect();
        let [version, trace_id, parent_id, flags] = parts.as_slice() else {
            return false;
        };
        let shaped = hex(version, 2) && hex(trace_id, 32) && hex(parent_id, 16) && hex(flags, 2);
        let zero = |id: &str| id.bytes().all(|b| b == b'0');
        let rest_ok = match *version {
            "00" => rest.is_empty(),
            _ => rest.is_empty() || rest.starts_with('-'),
        };
        shaped && *version != "ff" && !zero(trace_id) && !zero(parent_id) && rest_ok
    }

    /// Headers near the valid ones, so that a good share of those drawn are valid and the rest
    /// fail one rule at a time: every field drawn from right and wrong shapes, with or without a
    /// suffix and surrounding whitespace.
    fn near_valid() -> impl Strategy<Value = String> {
        let regex = |pattern: &str| proptest::string::string_regex(pattern).expect("a regex");
        let version = prop_oneof![
            6 => Just("00".to_owned()),
            2 => regex("01|cc"),
            1 => Just("ff".to_owned()),
            1 => regex("0G|0|000"),
        ];
        let id = |width: usize| {
            prop_oneof![
                8 => regex(&format!("[0-9a-f]{{{width}}}")),
                1 => regex(&format!("0{{{width}}}")),
                1 => regex(&format!("[0-9A-F]{{{width}}}")),
                1 => regex(&format!("[0-9a-f]{{{}}}", width - 1)),
            ]
        };
        let flags = prop_oneof![8 => regex("[0-9a-f]{2}"), 1 => regex("[0-9a-f]")];
        let suffix = prop_oneof![
            6 => Just(String::new()),
            1 => regex("-[ -~]{0,8}"),
            1 => regex("[ -~]{1,4}"),
        ];
        let space = prop_oneof![4 => Just(String::new()), 1 => regex("[ \t]{1,3}")];
        (space.clone(), version, id(32), id(16), flags, suffix, space).prop_map(
            |(before, version, trace_id, parent_id, flags, suffix, after)| {
                format!("{before}{version}-{trace_id}-{parent_id}-{flags}{suffix}{after}")
            },
        )
    }

    #[test]
    fn the_near_valid_headers_are_often_valid() {
        use proptest::{strategy::ValueTree, test_runner::TestRunner};
        let mut runner = TestRunner::deterministic();
        let strategy = near_valid();
        let valid = (0..1000)
            .filter(|_| {
                let header = strategy.new_tree(&mut runner).unwrap().current();
                valid_by_the_spec(&header)
            })
            .count();
        assert!((100..900).contains(&valid), "{valid} of 1000 valid");
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic_and_an_invalid_traceparent_is_never_continued(
            traceparent in prop_oneof!["[ -~\\t]{0,80}", near_valid()],
            tracestate in "[ -~\\t]{0,300}",
        ) {
            let Ok(value) = HeaderValue::from_str(&traceparent) else { return Ok(()) };
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, value);
            if let Ok(state) = HeaderValue::from_str(&tracestate) {
                headers.insert(TRACESTATE, state);
            }
            let cx = W3cTraceContext.extract(&HeaderExtractor(&headers));
            let continued = cx.span().span_context().is_valid();
            prop_assert_eq!(continued, valid_by_the_spec(&traceparent), "{:?}", traceparent);
            prop_assert_eq!(continued, parse_traceparent(&traceparent).is_some());
            if let Some(parsed) = parse_traceparent(&traceparent) {
                prop_assert_ne!(parsed.trace_id, TraceId::INVALID);
                prop_assert_ne!(parsed.parent_id, SpanId::INVALID);
            }
        }

        #[test]
        fn valid_contexts_round_trip(trace_id in 1u128.., span_id in 1u64.., flags in 0u8..4) {
            let sent = format!("00-{:032x}-{:016x}-{flags:02x}", trace_id, span_id);
            let parsed = parse_traceparent(&sent).unwrap();
            prop_assert_eq!(parsed.trace_id, TraceId::from(trace_id));
            prop_assert_eq!(parsed.parent_id, SpanId::from(span_id));
            prop_assert_eq!(parsed.flags, flags);
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(&sent).unwrap());
            let cx = W3cTraceContext.extract(&HeaderExtractor(&headers));
            let mut out = HeaderMap::new();
            W3cTraceContext.inject_context(&cx, &mut HeaderInjector(&mut out));
            prop_assert_eq!(out[TRACEPARENT].to_str().unwrap(), sent);
        }
    }
}
