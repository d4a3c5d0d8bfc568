//! One request through the gateway is one connected trace through all six services; failures,
//! malformed headers and secrets behave as documented. Real processes, real OTLP export.

use e2e::cards::{APPROVED, DECLINED};
use e2e::{SERVICES, TestStack, Trace};
use otlp_receiver::{SpanKind, SpanRecord, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

fn all_services() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

fn int(span: &SpanRecord, key: &str) -> Option<i64> {
    span.attr(key).and_then(Value::as_i64)
}

/// Every CLIENT span of an HTTP call has exactly one child: the callee's SERVER span.
fn assert_client_spans_parent_their_server_spans(trace: &Trace) {
    let clients = trace.http_client_spans();
    assert!(
        !clients.is_empty(),
        "no HTTP client spans:\n{}",
        trace.render()
    );
    for client in clients {
        let callee = client.attr_str("peer.service").unwrap();
        let children = trace.children(client);
        assert_eq!(
            children.len(),
            1,
            "{} → {callee}:\n{}",
            client.name,
            trace.render()
        );
        let server = children[0];
        assert_eq!(server.kind, SpanKind::Server, "{}", trace.render());
        assert_eq!(server.service_name, callee);
        // Both sides carry the value (an absent one on both sides must not pass as equal).
        let route = server
            .attr_str("http.route")
            .expect("the server's http.route");
        assert_eq!(
            Some(route),
            client.attr_str("url.template"),
            "{}",
            client.name
        );
        let status = int(server, "http.response.status_code").expect("the server's status");
        assert_eq!(Some(status), int(client, "http.response.status_code"));
    }
}

#[tokio::test]
async fn order_through_the_gateway_is_one_connected_trace_across_all_six_services() {
    let stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let reply = stack.order(&token, "widget", 2, APPROVED).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "confirmed");
    assert_eq!(reply.body["total"], 19.98);
    let trace_id = reply.trace_id.expect("traceresponse header");

    // Complete once both async hops are done: order-service has processed orders.fulfilled.
    stack
        .wait_for(&trace_id, "the fulfilment event processed", |t| {
            !t.named("order-service", "process orders.fulfilled")
                .is_empty()
        })
        .await;
    let trace = stack.wait_for_trace(&trace_id, &all_services()).await;
    assert_eq!(trace.services().len(), 6, "{}", trace.render());
    // Complete by the same rule the smoke check applies to a trace read from Jaeger.
    assert_eq!(
        trace.problems(&tracecheck::ORDER_SERVICES),
        Vec::<String>::new()
    );

    // One root: the gateway's SERVER span; every other span hangs off a span of this trace.
    let roots = trace.roots();
    assert_eq!(roots.len(), 1, "{}", trace.render());
    let root = roots[0];
    assert_eq!(
        (root.service_name.as_str(), root.name.as_str()),
        ("gateway", "POST /api/orders")
    );
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.attr_str("http.route"), Some("/api/orders"));
    assert_eq!(root.attr_str("http.request.method"), Some("POST"));
    assert_eq!(root.attr_str("url.path"), Some("/api/orders"));
    assert_eq!(int(root, "http.response.status_code"), Some(201));
    assert_eq!(root.attr_str("server.address"), Some("127.0.0.1"));
    assert!(trace.orphans().is_empty(), "{}", trace.render());

    assert_client_spans_parent_their_server_spans(&trace);
    // The hops themselves: who calls whom.
    for (caller, callee, route) in [
        ("gateway", "order-service", "/api/orders"),
        ("order-service", "auth-service", "/api/verify"),
        ("order-service", "user-service", "/internal/users/{id}"),
        ("order-service", "inventory-service", "/api/reservations"),
        ("order-service", "payment-service", "/api/payments"),
        (
            "order-service",
            "payment-service",
            "/internal/payments/{order_id}/capture",
        ),
    ] {
        assert!(
            trace
                .http_client_spans()
                .iter()
                .any(|s| s.service_name == caller
                    && s.attr_str("peer.service") == Some(callee)
                    && s.attr_str("url.template") == Some(route)),
            "no {caller} → {callee} {route} call:\n{}",
            trace.render()
        );
    }

    // Business attributes on the spans that own them.
    let order_server = trace.one("order-service", "POST /api/orders");
    let order_id = reply.body["order_id"].as_str().unwrap();
    assert_eq!(order_server.attr_str("order_id"), Some(order_id));
    assert_eq!(int(order_server, "user_id"), Some(1));
    // The charge's business context is on order-service's CLIENT span of the call.
    let payment = trace.one("order-service", "POST /api/payments");
    assert_eq!(payment.kind, SpanKind::Client);
    assert_eq!(payment.attr_str("order_id"), Some(order_id));
    assert_eq!(int(payment, "amount_cents"), Some(1998));
    assert_eq!(payment.attr_str("circuit_state"), Some("closed"));
    assert_eq!(payment.attr("amount").and_then(Value::as_f64), Some(19.98));
    assert_eq!(payment.attr_str("currency"), Some("USD"));
    // And what the callee did is on its SERVER span.
    let reserve = trace.one("inventory-service", "POST /api/reservations");
    assert_eq!(reserve.kind, SpanKind::Server);
    assert_eq!(reserve.attr_str("sku"), Some("widget"));
    assert_eq!(reserve.attr_str("order_id"), Some(order_id));
    // The token is verified once per order, by order-service; user-service is asked for the
    // profile of the user auth-service named.
    let verifications = trace.named("auth-service", "POST /api/verify");
    assert_eq!(verifications.len(), 1, "{}", trace.render());
    let profile = trace.one("order-service", "GET /internal/users/{id}");
    assert_eq!(int(profile, "user_id"), Some(1));
    assert_eq!(profile.attr_str("peer.service"), Some("user-service"));

    // The span budget: one span per hop and per database call, none repeating another — no
    // INTERNAL wrapper around a call, no breaker span for a call it simply lets through.
    assert!(
        trace.spans.len() <= 35,
        "{} spans, the budget is 35:\n{}",
        trace.spans.len(),
        trace.render()
    );
    assert!(
        trace.spans.iter().all(|s| s.kind != SpanKind::Internal),
        "{}",
        trace.render()
    );

    // Database calls are CLIENT spans with the db.* conventions.
    for (service, operation, table) in [
        ("order-service", "INSERT", "orders"),
        ("inventory-service", "UPDATE", "products"),
        ("inventory-service", "INSERT", "reservations"),
        ("payment-service", "INSERT", "payments"),
        ("user-service", "SELECT", "profiles"),
    ] {
        let db = trace.db_spans(service);
        let span = db
            .iter()
            .find(|s| {
                s.attr_str("db.collection.name") == Some(table)
                    && s.attr_str("db.operation.name") == Some(operation)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {operation} {table} span in {service}:\n{}",
                    trace.render()
                )
            });
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.name, format!("{operation} {table}"));
        assert_eq!(span.attr_str("db.system.name"), Some("sqlite"));
    }

    // Every span carries its service's resource.
    for span in &trace.spans {
        assert_eq!(span.resource["service.name"], span.service_name.as_str());
        assert_eq!(span.resource["service.namespace"], "default");
        assert_eq!(span.resource["deployment.environment.name"], "development");
        assert!(span.resource.contains_key("service.instance.id"));
        assert!(span.resource.contains_key("host.name"));
        assert_eq!(span.resource["service.version"], env!("CARGO_PKG_VERSION"));
        assert_ne!(
            span.status,
            StatusCode::Error,
            "{} failed:\n{}",
            span.name,
            trace.render()
        );
    }
}

#[tokio::test]
async fn declined_card_answers_402_with_trace_id_and_marks_the_payment_client_span_failed() {
    let stack = TestStack::start().await;
    let token = stack.login("bob", "bob123").await;
    let reply = stack.order(&token, "gizmo", 2, DECLINED).await;
    assert_eq!(reply.status, 402, "{:?}", reply.body);
    assert_eq!(reply.body["error"], "payment declined");
    assert_eq!(reply.body["reason"], "card_declined");
    let trace_id = reply.trace_id.expect("traceresponse header");
    assert_eq!(reply.body["trace_id"], trace_id.as_str());

    let trace = stack.wait_for_trace(&trace_id, &all_services()).await;
    let calls = trace.http_client_spans();
    let payment_call = calls
        .iter()
        .find(|s| {
            s.service_name == "order-service"
                && s.attr_str("peer.service") == Some("payment-service")
        })
        .expect("the payment CLIENT span");
    assert_eq!(payment_call.status, StatusCode::Error, "{}", trace.render());
    assert_eq!(int(payment_call, "http.response.status_code"), Some(402));
    let declined = payment_call
        .event("payment_declined")
        .expect("payment_declined event");
    assert_eq!(declined.attributes["reason"], "card_declined");
    // A 4xx is the caller's error: the payment SERVER span is not failed, the root neither.
    let payment_server = trace.children(payment_call)[0];
    assert_eq!(payment_server.status, StatusCode::Unset);
    assert_eq!(
        int(trace.roots()[0], "http.response.status_code"),
        Some(402)
    );
    assert_eq!(
        trace.roots()[0].status,
        StatusCode::Unset,
        "a declined card is the customer's problem, not a failed request"
    );

    // The reservation was released in the same trace, and the stock is back.
    assert!(
        trace
            .http_client_spans()
            .iter()
            .any(
                |s| s.attr_str("url.template") == Some("/api/reservations/{id}")
                    && int(s, "http.response.status_code") == Some(204)
            ),
        "no release call:\n{}",
        trace.render()
    );
    let stock = stack
        .call(Method::GET, "/api/inventory/gizmo", None, &[], None)
        .await;
    assert_eq!(
        (
            stock.body["available"].as_i64(),
            stock.body["reserved"].as_i64()
        ),
        (Some(5), Some(0))
    );
}

#[tokio::test]
async fn request_errors_answer_json_with_the_trace_id() {
    let stack = TestStack::start().await;
    let alice = stack.login("alice", "alice123").await;

    let short = stack.order(&alice, "gizmo", 6, APPROVED).await;
    assert_eq!(short.status, 409);
    let denied = stack
        .call(Method::GET, "/api/users/2", Some(&alice), &[], None)
        .await;
    assert_eq!(
        (denied.status, denied.body["error"].as_str()),
        (403, Some("Permission denied"))
    );
    let unknown = stack
        .call(Method::GET, "/api/inventory/nope", None, &[], None)
        .await;
    assert_eq!(unknown.status, 404);
    let anonymous = stack
        .place_order(
            "not-a-token",
            json!([{ "sku": "widget", "quantity": 1 }]),
            APPROVED,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    let bad_login = stack
        .call(
            Method::POST,
            "/api/login",
            None,
            &[],
            Some(json!({ "username": "alice", "password": "wrong" })),
        )
        .await;
    assert_eq!(bad_login.status, 401);
    let malformed = stack
        .call(
            Method::POST,
            "/api/orders",
            Some(&alice),
            &[("content-type", "application/json")],
            None,
        )
        .await;
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    // A card payment-service refuses as malformed is the customer's mistake: 400, not 502, and
    // the stock held for it goes back.
    let bad_card = stack.order(&alice, "gizmo", 1, "1234").await;
    assert_eq!(bad_card.status, 400, "{:?}", bad_card.body);
    assert!(
        bad_card.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("card_number")),
        "{:?}",
        bad_card.body
    );
    assert_eq!(stack.stock("gizmo").await["available"], 5);
    // Answers axum writes itself (405 here) have the same JSON body.
    let wrong_method = stack
        .call(Method::DELETE, "/api/orders", Some(&alice), &[], None)
        .await;
    assert_eq!(wrong_method.status, 405, "{:?}", wrong_method.body);

    for reply in [
        &short,
        &denied,
        &unknown,
        &anonymous,
        &bad_login,
        &malformed,
        &bad_card,
        &wrong_method,
    ] {
        assert!(reply.body["error"].is_string(), "{reply:?}");
        assert_eq!(
            reply.body["trace_id"].as_str(),
            reply.trace_id.as_deref(),
            "{reply:?}"
        );
    }

    // The 403 trace shows where access was refused, with the user-service span's attributes.
    let trace = stack
        .wait_for_trace(
            denied.trace_id.as_deref().unwrap(),
            &["gateway", "user-service", "auth-service"],
        )
        .await;
    let users = trace.one("user-service", "GET /api/users/{id}");
    assert_eq!(int(users, "http.response.status_code"), Some(403));
    assert_eq!(int(users, "user_id"), Some(2));
    assert_eq!(users.attr_str("endpoint"), Some("get_user"));
    assert_eq!(
        int(
            trace.one("auth-service", "POST /api/verify"),
            "http.response.status_code"
        ),
        Some(403)
    );
}

#[tokio::test]
async fn malformed_traceparent_still_succeeds_with_a_fresh_trace() {
    let stack = TestStack::start().await;
    let bad = "00-ZZZZ2f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for traceparent in [
        bad,
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    ] {
        let reply = stack
            .call(
                Method::GET,
                "/api/inventory/widget",
                None,
                &[("traceparent", traceparent)],
                None,
            )
            .await;
        assert_eq!(
            reply.status, 200,
            "traceparent {traceparent:?}: {:?}",
            reply.body
        );
        let trace_id = reply.trace_id.expect("traceresponse header");
        assert_eq!(trace_id.len(), 32);
        assert_ne!(trace_id, "0".repeat(32));
        let trace = stack
            .wait_for_trace(&trace_id, &["gateway", "inventory-service"])
            .await;
        let roots = trace.roots();
        assert_eq!(roots.len(), 1, "{}", trace.render());
        assert_eq!(roots[0].name, "GET /api/inventory/{sku}");
    }
    // A valid caller context is joined instead.
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let reply = stack
        .call(
            Method::GET,
            "/api/inventory/widget",
            None,
            &[("traceparent", parent)],
            None,
        )
        .await;
    assert_eq!(
        reply.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
}

#[tokio::test]
async fn no_span_attribute_or_log_line_carries_a_token_password_or_card_number() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    for card in [APPROVED, DECLINED, "4000000000009995"] {
        stack.order(&token, "widget", 1, card).await;
    }
    stack
        .call(Method::GET, "/api/users/1", Some(&token), &[], None)
        .await;
    // SIGTERM flushes every queued span and ends every log.
    stack.stop().await;

    let secrets = [
        token.as_str(),
        "alice123",
        stack.jwt_secret.as_str(),
        APPROVED,
        DECLINED,
        "4000000000009995",
    ];
    let spans = serde_json::to_string(&stack.spans().spans()).unwrap();
    let logs = stack.logs();
    assert!(
        spans.contains("\"card.last4\":\"4242\""),
        "card.last4 is expected on the payment span"
    );
    assert!(
        logs.contains("\"trace_id\""),
        "log lines inside a span carry the trace id"
    );
    for secret in secrets {
        assert!(
            !spans.contains(secret),
            "a span carries a secret ({}…)",
            &secret[..4]
        );
        assert!(
            !logs.contains(secret),
            "a log line carries a secret ({}…)",
            &secret[..4]
        );
    }
}

#[tokio::test]
async fn sigterm_flushes_the_spans_still_queued_in_every_service() {
    // A one-minute batch delay: nothing is exported on schedule during this test.
    let mut stack = TestStack::start_with(&[("OTEL_BSP_SCHEDULE_DELAY", "60000")]).await;
    let token = stack.login("alice", "alice123").await;
    let reply = stack.order(&token, "gadget", 1, APPROVED).await;
    assert_eq!(reply.status, 201);
    let trace_id = reply.trace_id.unwrap();
    // Silent for longer than the SDK's default 5 s schedule: it is the variable that holds the
    // spans back, so what arrives after the stop was flushed by the shutdown.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        stack.spans().trace(&trace_id).is_empty(),
        "spans were exported before shutdown"
    );

    stack.stop().await;
    let trace = stack.wait_for_trace(&trace_id, &all_services()).await;
    assert_eq!(trace.roots().len(), 1);
}

#[tokio::test]
async fn with_the_sdk_disabled_orders_still_work_and_nothing_is_exported() {
    let mut stack = TestStack::start_with(&[("OTEL_SDK_DISABLED", "true")]).await;
    let alice = stack.login("alice", "alice123").await;
    let order = stack.order(&alice, "widget", 1, APPROVED).await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    assert_eq!(order.trace_id, None, "no trace, so no traceresponse");
    let denied = stack
        .call(Method::GET, "/api/users/2", Some(&alice), &[], None)
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["trace_id"], Value::Null, "{:?}", denied.body);

    // The async hop works untraced too: the event reaches inventory-service, which reports the
    // order fulfilled.
    let order_id = order.body["order_id"].as_str().unwrap().to_owned();
    stack
        .eventually(Duration::from_secs(15), "the order fulfilled", || async {
            let reply = stack.get_order(&alice, &order_id).await;
            (reply.body["status"] == "fulfilled").then_some(())
        })
        .await;
    // Stopped (SIGTERM), every service flushes what it has: with the SDK disabled, nothing.
    stack.stop().await;
    assert_eq!(
        stack.spans().len(),
        0,
        "spans exported with the SDK disabled"
    );
}

#[tokio::test]
async fn another_customers_order_is_not_found_and_the_bearer_scheme_is_case_insensitive() {
    let stack = TestStack::start().await;
    let alice = stack.login("alice", "alice123").await;
    let bob = stack.login("bob", "bob123").await;
    let order = stack.order(&alice, "widget", 1, APPROVED).await;
    assert_eq!(order.status, 201, "{:?}", order.body);
    let order_id = order.body["order_id"].as_str().unwrap();

    // Bob asking for Alice's order learns what he would for an order that does not exist.
    let theirs = stack.get_order(&bob, order_id).await;
    let missing = stack
        .get_order(&bob, "00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!((theirs.status, missing.status), (404, 404), "{theirs:?}");
    assert_eq!(theirs.body["error"], missing.body["error"]);

    // `bearer` in lower case names the same scheme.
    let path = format!("/api/orders/{order_id}");
    for scheme in ["bearer", "BEARER"] {
        let authorization = format!("{scheme} {alice}");
        let reply = stack
            .call(
                Method::GET,
                &path,
                None,
                &[("authorization", &authorization)],
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{scheme}: {:?}", reply.body);
        assert_eq!(reply.body["order_id"], order_id);
    }
}

#[tokio::test]
async fn oversized_or_misplaced_input_is_neither_echoed_nor_copied_whole_into_spans() {
    let stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;

    // A 10 KB SKU: a bounded 404 message, and no exported attribute longer than the limit.
    let sku = "x".repeat(10_000);
    let reply = stack
        .call(
            Method::GET,
            &format!("/api/inventory/{sku}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body.to_string().len());
    let message = reply.body["error"].as_str().unwrap();
    assert!(
        message.chars().count() < 100,
        "{} characters",
        message.len()
    );
    let trace_id = reply.trace_id.unwrap();
    let trace = stack
        .wait_for(&trace_id, "inventory-service's span", |t| {
            t.has_service("inventory-service")
        })
        .await;
    let limit = shared_tracing::telemetry::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
    let mut cut = 0;
    for span in &trace.spans {
        for (key, value) in &span.attributes {
            let length = value.as_str().map_or(0, |s| s.chars().count());
            assert!(length <= limit, "{} {key}: {length}", span.name);
            cut += usize::from(length == limit);
        }
    }
    assert!(cut >= 2, "the path and the SKU reach the limit, cut: {cut}");

    // A card number sent as a JSON number is refused without being echoed.
    let body = json!({ "items": [{ "sku": "widget", "quantity": 1 }], "card_number": 4242424242424242u64 });
    let reply = stack
        .call(Method::POST, "/api/orders", Some(&token), &[], Some(body))
        .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert!(!reply.body.to_string().contains(APPROVED), "{}", reply.body);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("card_number"),
        "{}",
        reply.body
    );
    assert!(reply.body["trace_id"].is_string(), "{}", reply.body);
}

#[tokio::test]
async fn a_refused_login_checks_a_password_hash_whether_or_not_the_user_exists() {
    let stack = TestStack::start().await;
    let mut answers = Vec::new();
    for username in ["alice", "nobody-by-that-name"] {
        let body = json!({ "username": username, "password": "not-the-password" });
        let reply = stack
            .call(Method::POST, "/api/login", None, &[], Some(body))
            .await;
        assert_eq!(reply.status, 401, "{:?}", reply.body);
        let trace_id = reply.trace_id.unwrap();
        let trace = stack
            .wait_for(&trace_id, "the password check", |t| {
                !t.named("auth-service", "auth.password_verify").is_empty()
            })
            .await;
        let check = trace.one("auth-service", "auth.password_verify");
        answers.push((reply.body["error"].clone(), check.duration_nanos()));
    }
    // The same answer, after the same work (durations printed, not asserted: a shared machine
    // makes timings noise).
    assert_eq!(answers[0].0, answers[1].0);
    println!(
        "password check: known user {} µs, unknown user {} µs",
        answers[0].1 / 1_000,
        answers[1].1 / 1_000
    );
}

#[tokio::test]
async fn in_production_an_outsider_cannot_choose_the_trace_but_a_named_caller_can() {
    let outside_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let outside_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{outside_trace}-{outside_span}-01");
    let headers = [("traceparent", traceparent.as_str())];

    // Production, no trusted caller: a new trace, the outside context kept as a link.
    let stack = TestStack::start_configured(&[], &[("gateway", "ENVIRONMENT", "production")]).await;
    let reply = stack
        .call(Method::GET, "/api/inventory/widget", None, &headers, None)
        .await;
    assert_eq!(reply.status, 200);
    let trace_id = reply.trace_id.unwrap();
    assert_ne!(trace_id, outside_trace, "the outsider chose the trace");
    let trace = stack
        .wait_for_trace(&trace_id, &["gateway", "inventory-service"])
        .await;
    let root = trace.one("gateway", "GET /api/inventory/{sku}");
    assert_eq!(root.parent_span_id, None, "the edge span is a root");
    assert_eq!(root.links.len(), 1, "{:?}", root.links);
    assert_eq!(
        (
            root.links[0].trace_id.as_str(),
            root.links[0].span_id.as_str()
        ),
        (outside_trace, outside_span)
    );
    assert!(stack.spans().trace(outside_trace).is_empty());
    drop(stack);

    // The same, with the caller (the test, on loopback) named as trusted: the trace goes on.
    let stack = TestStack::start_configured(
        &[],
        &[
            ("gateway", "ENVIRONMENT", "production"),
            ("gateway", "TRACE_CONTEXT_TRUSTED_CALLERS", "127.0.0.1"),
        ],
    )
    .await;
    let reply = stack
        .call(Method::GET, "/api/inventory/widget", None, &headers, None)
        .await;
    assert_eq!(reply.trace_id.as_deref(), Some(outside_trace));
    // The caller's span is not exported here: the edge span is (rightly) the one "orphan".
    let trace = stack
        .eventually(Duration::from_secs(30), "the continued trace", || async {
            let trace = Trace::new(stack.spans().trace(outside_trace));
            let both = trace.has_service("gateway") && trace.has_service("inventory-service");
            both.then_some(trace)
        })
        .await;
    let edge = trace.one("gateway", "GET /api/inventory/{sku}");
    assert_eq!(edge.parent_span_id.as_deref(), Some(outside_span));
    assert!(edge.links.is_empty());
}
