//! The NATS header and outbox map adapters carry the same trace context the HTTP headers do.

use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use shared_tracing::{nats, propagation, stored};

fn remote_parent(flags: TraceFlags) -> Context {
    let span_context = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags,
        true,
        TraceState::from_key_value([("vendor", "v1")]).unwrap(),
    );
    Context::new()
        .with_remote_span_context(span_context)
        .with_baggage(vec![KeyValue::new("tenant", "acme")])
}

fn assert_same_parent(sent: &Context, received: &Context) {
    let (sent, received) = (
        sent.span().span_context().clone(),
        received.span().span_context().clone(),
    );
    assert_eq!(received.trace_id(), sent.trace_id());
    assert_eq!(received.span_id(), sent.span_id());
    assert_eq!(received.trace_flags(), sent.trace_flags());
    assert_eq!(received.trace_state().header(), "vendor=v1");
}

#[test]
fn nats_headers_round_trip_trace_context_and_baggage() {
    propagation::install_propagators();
    for flags in [TraceFlags::SAMPLED, TraceFlags::NOT_SAMPLED] {
        let sent = remote_parent(flags);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "order-1");
        nats::inject(&sent, &mut headers);
        assert_eq!(
            headers.get("traceparent").map(|v| v.as_str().to_owned()),
            Some(format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags:02x}"
            ))
        );
        let received = nats::extract(Some(&headers));
        assert_same_parent(&sent, &received);
        assert_eq!(
            received.baggage().get("tenant").map(|v| v.to_string()),
            Some("acme".into())
        );
    }
}

#[test]
fn missing_or_malformed_nats_headers_start_a_new_root() {
    propagation::install_propagators();
    assert!(!nats::extract(None).span().span_context().is_valid());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("traceparent", "00-not-a-trace-01");
    assert!(
        !nats::extract(Some(&headers))
            .span()
            .span_context()
            .is_valid()
    );
}

#[test]
fn outbox_map_round_trips_trace_context() {
    propagation::install_propagators();
    let sent = remote_parent(TraceFlags::SAMPLED);
    // Stored as JSON in the outbox row, read back later by the relay.
    let stored = stored::to_json(&sent);
    let map: std::collections::HashMap<String, String> = serde_json::from_str(&stored).unwrap();
    assert!(map.contains_key("traceparent") && map.contains_key("baggage"));
    let restored = stored::from_json(&stored).unwrap();
    assert_same_parent(&sent, &restored);
}
