//! Every route of every service behind the gateway, called directly: with no credential (401),
//! in the name of a service its access table does not name (403), and in the name of one it does
//! (the handler's answer). Refused calls change nothing in the services' databases; the SERVER
//! span names the proven caller, and a refusal adds an event naming the caller and the rule.

use e2e::{Ledger, TestStack};
use otlp_receiver::SpanKind;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const GATEWAY: &str = "gateway";
const USER: &str = "user-service";
const AUTH: &str = "auth-service";
const ORDER: &str = "order-service";
const INVENTORY: &str = "inventory-service";
const PAYMENT: &str = "payment-service";
const APPROVED: &str = "4242424242424242";

/// One route of one service: who may call it, someone who may not, and what the admitted caller
/// is answered.
struct Case {
    callee: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// The user's bearer token, for the routes that act for a user.
    user_token: bool,
    allowed: &'static str,
    refused: &'static str,
    admitted_status: u16,
}

fn case(
    callee: &'static str,
    method: Method,
    path: &str,
    allowed: &'static str,
    refused: &'static str,
    admitted_status: u16,
) -> Case {
    Case {
        callee,
        method,
        path: path.to_owned(),
        body: None,
        user_token: false,
        allowed,
        refused,
        admitted_status,
    }
}

impl Case {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn for_user(mut self) -> Self {
        self.user_token = true;
        self
    }

    fn label(&self) -> String {
        format!("{} {} {}", self.callee, self.method, self.path)
    }
}

/// Sends `case`'s request with `credential` (or none) and a `traceparent` of `trace_id`.
async fn send(
    stack: &TestStack,
    case: &Case,
    caller: Option<&'static str>,
    token: &str,
    trace_id: &str,
) -> (u16, Value) {
    let request = match caller {
        Some(caller) => stack.signed(caller, case.method.clone(), case.callee, &case.path),
        None => reqwest::Client::new().request(
            case.method.clone(),
            format!("{}{}", stack.url(case.callee), case.path),
        ),
    };
    let mut request = request.header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"));
    if case.user_token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = &case.body {
        request = request.json(body);
    }
    let reply = request.send().await.expect("the service answers");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

fn trace_id(case: usize, attempt: usize) -> String {
    format!("{:016x}{:016x}", 0x5e41_0000 + case, attempt + 1)
}

#[tokio::test]
async fn every_internal_route_admits_only_the_callers_its_table_names() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let order_id = "00000000-0000-4000-8000-0000000000aa";
    let charge = json!({
        "order_id": order_id, "amount_cents": 1999, "currency": "USD", "card_number": APPROVED,
    });
    let reservation = json!({ "order_id": order_id, "items": [{ "sku": "gizmo", "quantity": 1 }] });
    let placed = json!({ "items": [{ "sku": "widget", "quantity": 1 }], "card_number": APPROVED });
    let cases = [
        case(PAYMENT, Method::POST, "/api/payments", ORDER, GATEWAY, 200).body(charge),
        case(
            PAYMENT,
            Method::POST,
            &format!("/internal/payments/{order_id}/capture"),
            ORDER,
            INVENTORY,
            200,
        ),
        case(
            PAYMENT,
            Method::POST,
            &format!("/internal/payments/{order_id}/void"),
            ORDER,
            USER,
            200,
        ),
        case(
            INVENTORY,
            Method::POST,
            "/api/reservations",
            ORDER,
            GATEWAY,
            201,
        )
        .body(reservation),
        case(
            INVENTORY,
            Method::POST,
            &format!("/internal/orders/{order_id}/reservation/release"),
            ORDER,
            PAYMENT,
            200,
        ),
        case(
            INVENTORY,
            Method::DELETE,
            "/api/reservations/none",
            ORDER,
            AUTH,
            404,
        ),
        case(
            INVENTORY,
            Method::GET,
            "/api/stock/gizmo",
            GATEWAY,
            PAYMENT,
            200,
        ),
        case(USER, Method::GET, "/internal/users/1", ORDER, PAYMENT, 200),
        // Not the gateway either: the internet-facing service never asks for a profile unasked.
        case(USER, Method::GET, "/internal/users/1", ORDER, GATEWAY, 200),
        case(USER, Method::GET, "/api/users/1", GATEWAY, ORDER, 200).for_user(),
        case(AUTH, Method::POST, "/api/verify", USER, GATEWAY, 200).for_user(),
        case(AUTH, Method::POST, "/api/verify", ORDER, PAYMENT, 200).for_user(),
        case(AUTH, Method::POST, "/api/login", GATEWAY, ORDER, 200)
            .body(json!({ "username": "alice", "password": "alice123" })),
        case(ORDER, Method::POST, "/api/orders", GATEWAY, INVENTORY, 201)
            .body(placed)
            .for_user(),
        case(
            ORDER,
            Method::GET,
            "/api/orders/none",
            GATEWAY,
            PAYMENT,
            404,
        )
        .for_user(),
    ];

    for (index, case) in cases.iter().enumerate() {
        let label = case.label();
        let before = (Ledger::read(&stack).await, stack.stock("gizmo").await);

        let (status, body) = send(&stack, case, None, &token, &trace_id(index, 0)).await;
        assert_eq!(status, 401, "{label} without a credential: {body}");
        assert_eq!(body["trace_id"], trace_id(index, 0), "{label}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("service credential")),
            "{label}: {body}"
        );

        let refused = Some(case.refused);
        let (status, body) = send(&stack, case, refused, &token, &trace_id(index, 1)).await;
        assert_eq!(status, 403, "{label} from {}: {body}", case.refused);
        assert_eq!(
            body["error"],
            format!("{} may not call {}", case.refused, route_of(&case.path)),
            "{label}"
        );
        assert_eq!(body["trace_id"], trace_id(index, 1), "{label}: {body}");

        // Nothing was done for either: no payment, order or reservation changed, no stock held.
        // (An earlier admitted order may move on meanwhile: compare what exists, not its state.)
        let (ledger, stock) = (Ledger::read(&stack).await, stack.stock("gizmo").await);
        assert_eq!(ids(&ledger.payments), ids(&before.0.payments), "{label}");
        assert_eq!(ids(&ledger.orders), ids(&before.0.orders), "{label}");
        assert_eq!(
            ids(&ledger.reservations),
            ids(&before.0.reservations),
            "{label}"
        );
        assert_eq!(stock, before.1, "{label}");

        let allowed = Some(case.allowed);
        let (status, body) = send(&stack, case, allowed, &token, &trace_id(index, 2)).await;
        assert_eq!(
            status, case.admitted_status,
            "{label} from {}: {body}",
            case.allowed
        );
    }

    // The traces: the refusals name the caller and the rule; the admitted call, its caller.
    for (index, case) in cases.iter().enumerate() {
        let label = case.label();
        let server = |attempt| {
            let trace_id = trace_id(index, attempt);
            let callee = case.callee;
            let stack = &stack;
            async move {
                // The caller's span is this test's, never exported: wait on the callee's alone.
                let is_callee = |s: &otlp_receiver::SpanRecord| {
                    s.trace_id == trace_id && s.service_name == callee && s.kind == SpanKind::Server
                };
                let arrived = stack
                    .spans()
                    .wait_until(Duration::from_secs(30), |spans| spans.iter().any(is_callee))
                    .await;
                assert!(arrived, "{callee}'s SERVER span of {trace_id}");
                stack
                    .spans()
                    .trace(&trace_id)
                    .into_iter()
                    .find(is_callee)
                    .expect("waited for")
            }
        };
        let anonymous = server(0).await;
        let event = anonymous
            .event("caller refused: not authenticated")
            .unwrap_or_else(|| panic!("{label}: {:?}", anonymous.events));
        assert!(
            event.attributes["access.rule"]
                .as_str()
                .is_some_and(|rule| rule.starts_with(&route_of(&case.path))),
            "{label}: {event:?}"
        );
        assert_eq!(anonymous.attr("service.peer.name"), None, "{label}");

        let other = server(1).await;
        let event = other
            .event("caller refused: not allowed on this route")
            .unwrap_or_else(|| panic!("{label}: {:?}", other.events));
        assert_eq!(event.attributes["access.caller"], case.refused, "{label}");
        assert_eq!(other.attr_str("service.peer.name"), Some(case.refused));

        let admitted = server(2).await;
        assert_eq!(
            admitted.attr_str("service.peer.name"),
            Some(case.allowed),
            "{label}"
        );
        assert!(
            admitted
                .events
                .iter()
                .all(|e| !e.name.starts_with("caller refused"))
        );
    }

    // Health stays open to probes, without a credential.
    for service in [USER, AUTH, ORDER, INVENTORY, PAYMENT] {
        let health = reqwest::get(format!("{}/healthz", stack.url(service)))
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "{service}");
    }
    stack.stop().await;
}

fn ids<V>(map: &std::collections::HashMap<String, V>) -> std::collections::BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

/// The route template a path was routed by, as the access table and the 403 name it.
fn route_of(path: &str) -> String {
    let templates = [
        (
            "/internal/payments/",
            "/capture",
            "/internal/payments/{order_id}/capture",
        ),
        (
            "/internal/payments/",
            "/void",
            "/internal/payments/{order_id}/void",
        ),
        (
            "/internal/orders/",
            "/reservation/release",
            "/internal/orders/{order_id}/reservation/release",
        ),
        ("/api/reservations/", "", "/api/reservations/{id}"),
        ("/api/stock/", "", "/api/stock/{sku}"),
        ("/internal/users/", "", "/internal/users/{id}"),
        ("/api/users/", "", "/api/users/{id}"),
        ("/api/orders/", "", "/api/orders/{id}"),
    ];
    templates
        .iter()
        .find(|(prefix, suffix, _)| path.starts_with(prefix) && path.ends_with(suffix))
        .map_or(path.to_owned(), |(_, _, template)| (*template).to_owned())
}

#[tokio::test]
async fn an_order_through_the_gateway_names_every_caller_by_identity() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let reply = stack.order(&token, "widget", 1, APPROVED).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let trace_id = reply.trace_id.expect("traceresponse");
    let trace = stack
        .wait_for_trace(&trace_id, &[GATEWAY, AUTH, USER, ORDER, INVENTORY, PAYMENT])
        .await;
    // Every SERVER span behind the gateway names, as proven, the service whose CLIENT span
    // called it.
    let mut named = 0;
    for span in trace.spans.iter().filter(|s| s.kind == SpanKind::Server) {
        let Some(parent) = trace.parent(span) else {
            continue;
        };
        if parent.kind != SpanKind::Client {
            continue;
        }
        assert_eq!(
            span.attr_str("service.peer.name"),
            Some(parent.service_name.as_str()),
            "{} {}",
            span.service_name,
            span.name
        );
        named += 1;
    }
    assert!(named >= 5, "{named} SERVER spans with a CLIENT parent");
    stack.stop().await;
}

#[tokio::test]
async fn a_gateway_its_callees_do_not_know_answers_502_not_the_users_401() {
    // The gateway signs with a key of its own that no other service holds.
    let keys = tempfile::tempdir().unwrap();
    service_kit::identity::generate(keys.path(), &[GATEWAY]).unwrap();
    let dir = keys.path().to_str().unwrap().to_owned();
    let mut stack =
        TestStack::start_configured(&[], &[(GATEWAY, "SERVICE_IDENTITY_DIR", dir.as_str())]).await;
    let reply = stack
        .call(Method::GET, "/api/inventory/widget", None, &[], None)
        .await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(
        reply.proxy_status.as_deref(),
        Some("gateway; next-hop=inventory-service; received-status=401"),
        "{}",
        reply.body
    );
    let trace_id = reply.trace_id.expect("traceresponse");
    let trace = stack
        .wait_for(&trace_id, "inventory-service's refusal", |trace| {
            trace.has_service(INVENTORY)
        })
        .await;
    let refusal = trace.one(INVENTORY, "GET /api/stock/{sku}");
    let event = refusal
        .event("caller refused: not authenticated")
        .expect("the refusal's event");
    assert_eq!(event.attributes["access.claimed_caller"], GATEWAY);
    stack.stop().await;
}
