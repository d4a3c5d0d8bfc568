//! No card stays charged, and no stock held, for an order that is not placed — also when
//! order-service dies half-way, or cannot reach payment-service to give a charge back. Checked
//! from the services' own databases ([`Ledger`]), and in the order's trace.

use e2e::cards::{APPROVED, SLOW};
use e2e::{DelayingProxy, Ledger, TestStack, Trace};
use sqlx::SqlitePool;
use std::time::Duration;

const CHARGE: &[u8] = b"POST /api/payments ";
/// The void and the capture: payment-service's internal routes.
const INTERNAL: &[u8] = b"POST /internal/payments/";

async fn gizmo(stack: &TestStack, token: &str, card: &str) -> e2e::Reply {
    stack.order(token, "gizmo", 1, card).await
}

/// order-service's compensations: `(order_id, action, state, attempts, outcome)`.
async fn compensations(stack: &TestStack) -> Vec<(String, String, String, i64, Option<String>)> {
    let path = stack.database("order-service");
    let pool = SqlitePool::connect(&format!("sqlite:{}?mode=ro", path.display()))
        .await
        .expect("order-service's database");
    let rows = sqlx::query_as(
        "SELECT order_id, action, state, attempts, outcome FROM compensations ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("reading compensations");
    pool.close().await;
    rows
}

/// The one order id the compensations table knows.
async fn only_order(stack: &TestStack) -> String {
    let rows = compensations(stack).await;
    let mut ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{rows:?}");
    ids[0].to_owned()
}

/// The compensation `action` of `order_id`, once it is done: its outcome.
async fn done(stack: &TestStack, order_id: &str, action: &str) -> String {
    stack
        .eventually(Duration::from_secs(30), action, || async {
            compensations(stack)
                .await
                .into_iter()
                .find(|r| r.0 == order_id && r.1 == action && r.2 == "done")
                .map(|r| r.4.unwrap_or_default())
        })
        .await
}

/// Waits until the ledger adds up, then returns it.
async fn balanced(stack: &TestStack) -> Ledger {
    let mut last = Vec::new();
    for _ in 0..300 {
        let ledger = Ledger::read(stack).await;
        last = ledger.problems();
        if last.is_empty() {
            return ledger;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the databases never agreed: {last:#?}");
}

/// A compensation attempt of the order's trace that ended with `outcome`.
fn compensated(trace: &Trace, name: &str, outcome: &str) -> bool {
    trace
        .spans
        .iter()
        .any(|s| s.name == name && s.attr_str("outcome") == Some(outcome))
}

/// A stack whose payment-service approves at once but answers a charge 3 s late (order-service
/// gives up after 1 s) and refuses every later void or capture on the way, with
/// `PAYMENT_CAPTURE_TTL_MS` = `capture_ttl_ms`; and one order placed through it, answered 504:
/// the proxy, the stack, the order's trace id and order id.
async fn charged_too_late_and_cut_off(
    capture_ttl_ms: &str,
) -> (DelayingProxy, TestStack, String, String) {
    let proxy = DelayingProxy::start(CHARGE, Duration::from_secs(3)).await;
    proxy.refuse(INTERNAL);
    let proxy_url = proxy.url();
    let stack = TestStack::start_configured(
        &[],
        &[
            ("order-service", "PAYMENT_SERVICE_URL", proxy_url.as_str()),
            ("order-service", "PAYMENT_TIMEOUT_MS", "1000"),
            ("payment-service", "PAYMENT_CAPTURE_TTL_MS", capture_ttl_ms),
        ],
    )
    .await;
    proxy.set_upstream(&stack.url("payment-service"));
    let token = stack.login("alice", "alice123").await;
    let reply = gizmo(&stack, &token, APPROVED).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    let trace_id = reply.trace_id.expect("traceresponse");
    let order_id = only_order(&stack).await;
    (proxy, stack, trace_id, order_id)
}

#[tokio::test]
async fn a_void_that_could_not_get_through_is_carried_out_after_order_service_restarts() {
    // payment-service approves at once, its answer comes 3 s late (order-service gives up after
    // 1 s), and every void is cut off on the way. Its own expiry is far off: only order-service
    // can give the charge back here.
    let (_proxy, mut stack, trace_id, order_id) = charged_too_late_and_cut_off("600000").await;

    // The void has been tried and refused at least once; the card is charged.
    stack
        .eventually(Duration::from_secs(10), "a failed void", || async {
            compensations(&stack)
                .await
                .into_iter()
                .any(|r| r.1 == "void_payment" && r.2 == "due" && r.3 >= 1)
                .then_some(())
        })
        .await;
    let ledger = Ledger::read(&stack).await;
    assert_eq!(ledger.payment(&order_id), Some("approved"));
    assert!(!ledger.orders.contains_key(&order_id));
    // What order-service did so far has been exported (a killed process loses what it had not).
    stack
        .wait_for(&trace_id, "the request's spans", |t| {
            t.spans
                .iter()
                .any(|s| s.service_name == "order-service" && s.name == "POST /api/orders")
        })
        .await;

    // order-service dies (no shutdown, nothing flushed) and comes back able to reach
    // payment-service: the intent it left in its database is carried out.
    stack.kill_service("order-service");
    let direct = stack.url("payment-service");
    stack
        .start_service("order-service", &[("PAYMENT_SERVICE_URL", direct.as_str())])
        .await;
    assert_eq!(done(&stack, &order_id, "void_payment").await, "voided");
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payment(&order_id), Some("voided"));
    assert!(
        !ledger.orders.contains_key(&order_id),
        "no order was placed"
    );

    // The void after the restart is in the order's trace, a child of the order request.
    let trace = stack
        .wait_for(&trace_id, "the void after the restart", |t| {
            compensated(t, "payment_client.void", "voided")
        })
        .await;
    let request = trace.one("order-service", "POST /api/orders");
    let void = trace
        .spans
        .iter()
        .find(|s| s.name == "payment_client.void" && s.attr_str("outcome") == Some("voided"))
        .unwrap();
    assert_eq!(
        void.parent_span_id.as_deref(),
        Some(request.span_id.as_str())
    );
    assert_eq!(void.attr_str("order_id"), Some(order_id.as_str()));
    stack.stop().await;
}

#[tokio::test]
async fn order_service_killed_during_a_slow_charge_leaves_no_charge_without_an_order() {
    let mut stack = TestStack::start_configured(
        &[],
        &[
            ("payment-service", "PAYMENT_SLOW_MS", "1500"),
            ("payment-service", "PAYMENT_CAPTURE_TTL_MS", "600000"),
        ],
    )
    .await;
    let token = stack.login("alice", "alice123").await;
    let order_service = stack.pid("order-service").expect("order-service runs");

    // The slow card keeps order-service waiting on payment-service; once payment-service has
    // the charge in hand (the stock held before it), order-service is killed, and
    // payment-service goes on to approve the charge.
    let kill = async {
        stack
            .eventually(Duration::from_secs(10), "the charge in hand", || async {
                let slow = stack.log("payment-service").contains("processor is slow");
                slow.then_some(())
            })
            .await;
        assert_eq!(stack.stock("gizmo").await["reserved"], 1, "the gizmo held");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(order_service as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("killing order-service");
    };
    let (reply, ()) = tokio::join!(gizmo(&stack, &token, SLOW), kill);
    assert_eq!(reply.status, 502, "{}", reply.body);
    let order_id = only_order(&stack).await;
    stack
        .eventually(Duration::from_secs(10), "the charge recorded", || async {
            Ledger::read(&stack).await.payment(&order_id).map(|_| ())
        })
        .await;

    // Restarted, order-service voids the charge and releases the stock of the order it lost.
    stack.kill_service("order-service");
    stack.start_service("order-service", &[]).await;
    assert_eq!(done(&stack, &order_id, "void_payment").await, "voided");
    assert_eq!(
        done(&stack, &order_id, "release_stock").await,
        "released",
        "the held gizmo goes back on sale"
    );
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payment(&order_id), Some("voided"));
    assert_eq!(ledger.reservations[&order_id], "released");
    assert_eq!(stack.stock("gizmo").await["reserved"].as_i64(), Some(0));
    stack.stop().await;
}

#[tokio::test]
async fn a_charge_no_order_captures_is_voided_by_payment_service_in_the_orders_trace() {
    // The charge's answer comes too late for order-service, and neither its void nor anything
    // else of order-service's reaches payment-service again: payment-service's own expiry gives
    // the card back.
    let (_proxy, mut stack, trace_id, order_id) = charged_too_late_and_cut_off("2000").await;

    let trace = stack
        .wait_for(&trace_id, "the authorization's expiry", |t| {
            t.spans.iter().any(|s| {
                s.name == "payment.expire_authorization"
                    && s.event("authorization_expired").is_some()
            })
        })
        .await;
    let expiry = trace.one("payment-service", "payment.expire_authorization");
    let charge = trace.one("payment-service", "POST /api/payments");
    assert_eq!(
        expiry.parent_span_id.as_deref(),
        Some(charge.span_id.as_str()),
        "{}",
        trace.render()
    );
    assert_eq!(expiry.attr_str("order_id"), Some(order_id.as_str()));
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payment(&order_id), Some("voided"));
    assert!(!ledger.orders.contains_key(&order_id));
    stack.stop().await;
}

#[tokio::test]
async fn a_capture_after_the_window_fails_the_order_cleanly_and_takes_no_money() {
    // Every charge's answer comes 3 s late, within order-service's 5 s timeout but past
    // payment-service's 1 s capture window.
    let proxy = DelayingProxy::start(CHARGE, Duration::from_secs(3)).await;
    let proxy_url = proxy.url();
    let mut stack = TestStack::start_configured(
        &[],
        &[
            ("order-service", "PAYMENT_SERVICE_URL", proxy_url.as_str()),
            ("order-service", "PAYMENT_TIMEOUT_MS", "5000"),
            ("payment-service", "PAYMENT_CAPTURE_TTL_MS", "1000"),
        ],
    )
    .await;
    proxy.set_upstream(&stack.url("payment-service"));
    let token = stack.login("alice", "alice123").await;
    let reply = gizmo(&stack, &token, APPROVED).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.body["reason"], "payment_voided", "{}", reply.body);
    let order_id = reply.body["order_id"]
        .as_str()
        .expect("the order id")
        .to_owned();
    let trace_id = reply.trace_id.expect("traceresponse");

    let trace = stack.wait_for_trace(&trace_id, &["payment-service"]).await;
    let capture = trace
        .http_client_spans()
        .into_iter()
        .find(|s| s.attr_str("url.template") == Some("/internal/payments/{order_id}/capture"))
        .unwrap_or_else(|| panic!("a capture call:\n{}", trace.render()));
    assert!(
        capture.event("payment_voided").is_some(),
        "{}",
        trace.render()
    );
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payment(&order_id), Some("voided"));
    assert!(!ledger.orders.contains_key(&order_id));
    assert_eq!(ledger.reservations[&order_id], "released");
    stack.stop().await;
}

#[tokio::test]
async fn a_placed_order_captures_its_charge_and_settles_its_compensations() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let reply = gizmo(&stack, &token, APPROVED).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let order_id = reply.body["order_id"].as_str().unwrap().to_owned();
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payments[&order_id], ("approved".to_owned(), true));
    let rows = compensations(&stack).await;
    assert!(
        rows.iter().all(|r| r.0 == order_id && r.2 == "disarmed"),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_repeated_charge_or_reservation_is_answered_as_the_first_and_acts_once() {
    let mut stack = TestStack::start().await;
    let order_id = "00000000-0000-4000-8000-000000000001";
    // In order-service's name: the only caller payment and inventory admit on these routes.
    let post = |service: &'static str, path: &str, key: &str, body: serde_json::Value| {
        stack
            .signed("order-service", reqwest::Method::POST, service, path)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };

    // The same charge twice under one key: one payment, the same answer.
    let charge = serde_json::json!({
        "order_id": order_id, "amount_cents": 999, "currency": "USD", "card_number": APPROVED,
    });
    let key = format!("{order_id}:charge");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let reply = post("payment-service", "/api/payments", &key, charge.clone())
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        answers.push(reply.json::<serde_json::Value>().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    // The key again for another amount: refused, nothing charged.
    let mut other = charge.clone();
    other["amount_cents"] = 1.into();
    let reply = post("payment-service", "/api/payments", &key, other)
        .await
        .unwrap();
    assert_eq!(reply.status(), 422);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["reason"], "idempotency_key_reused", "{body}");

    // The same reservation twice under one key: held once, the same reservation.
    let reserve = serde_json::json!({
        "order_id": order_id, "items": [{ "sku": "gizmo", "quantity": 2 }],
    });
    let key = format!("{order_id}:reserve");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let reply = post(
            "inventory-service",
            "/api/reservations",
            &key,
            reserve.clone(),
        )
        .await
        .unwrap();
        assert_eq!(reply.status(), 201);
        answers.push(reply.json::<serde_json::Value>().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(stack.stock("gizmo").await["reserved"].as_i64(), Some(2));
    // Other lines under the key: 422; the order again under another key: 409, as before.
    let mut other = reserve.clone();
    other["items"][0]["quantity"] = 1.into();
    let reply = post("inventory-service", "/api/reservations", &key, other)
        .await
        .unwrap();
    assert_eq!(reply.status(), 422);
    let reply = post("inventory-service", "/api/reservations", "another", reserve)
        .await
        .unwrap();
    assert_eq!(reply.status(), 409);
    assert_eq!(stack.stock("gizmo").await["reserved"].as_i64(), Some(2));

    let ledger = Ledger::read(&stack).await;
    assert_eq!(ledger.payments.len(), 1);
    assert_eq!(ledger.reservations.len(), 1);

    // Each repeat is marked on its SERVER span.
    let replays = stack
        .spans()
        .wait_until(Duration::from_secs(10), |spans| {
            spans
                .iter()
                .filter(|s| s.event("idempotent_replay").is_some())
                .count()
                == 2
        })
        .await;
    assert!(
        replays,
        "a replay event on each repeated charge and reservation"
    );
    stack.stop().await;
}

/// Places an order of one widget through the gateway at `gateway`: its status and body.
async fn place(http: &reqwest::Client, gateway: &str, token: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({
        "items": [{ "sku": "widget", "quantity": 1 }], "card_number": APPROVED,
    });
    let reply = http
        .post(format!("{gateway}/api/orders"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_payment_service_restart_under_load_fails_no_order_and_charges_none_twice() {
    let mut stack = TestStack::start().await;
    let token = stack.login("alice", "alice123").await;
    let gateway = stack.url("gateway");
    let running = std::sync::atomic::AtomicBool::new(true);
    let client = || async {
        let http = reqwest::Client::new();
        let mut replies = Vec::new();
        // Bounded: at most 300 orders per client, whatever happens.
        for _ in 0..300 {
            if !running.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            replies.push(place(&http, &gateway, &token).await);
        }
        replies
    };
    let restart = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // SIGTERM: payment-service stops taking connections, finishes what it serves and exits;
        // it comes straight back on the same port and database.
        let exited = stack.stop_service("payment-service").await;
        stack.start_service("payment-service", &[]).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        exited
    };
    let (a, b, c, d, exited) = tokio::join!(client(), client(), client(), client(), restart);
    assert!(exited, "payment-service exited by itself on SIGTERM");
    let replies: Vec<_> = a.into_iter().chain(b).chain(c).chain(d).collect();
    let failed: Vec<_> = replies
        .iter()
        .filter(|(status, _)| *status != 201)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        replies.len()
    );

    // Every order placed has exactly one captured payment, and nothing else is charged.
    let ledger = balanced(&stack).await;
    for (_, body) in &replies {
        let order = body["order_id"].as_str().unwrap();
        assert_eq!(
            ledger.payments[order],
            ("approved".to_owned(), true),
            "{order}"
        );
    }
    assert_eq!(ledger.payments.len(), replies.len(), "one charge per order");
    // What the restart cost: calls to payment-service sent again because the connection
    // was refused or closed under them (a figure to read; how many depends on timing).
    let resent = stack
        .spans()
        .spans()
        .iter()
        .filter(|s| {
            s.service_name == "order-service"
                && s.attr_str("peer.service") == Some("payment-service")
                && s.attr("http.request.resend_count").is_some()
        })
        .count();
    println!(
        "{} orders across a payment-service restart, {resent} calls to it resent",
        replies.len()
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_charge_whose_answer_is_lost_is_resent_answered_as_the_first_and_charged_once() {
    // payment-service approves the first charge, and the connection it answers on is closed
    // before the answer gets through — as when a callee drains, or a link drops.
    let proxy = DelayingProxy::start(b"(nothing is delayed)", Duration::ZERO).await;
    proxy.swallow_next_answer(CHARGE);
    let proxy_url = proxy.url();
    let mut stack = TestStack::start_configured(
        &[],
        &[("order-service", "PAYMENT_SERVICE_URL", proxy_url.as_str())],
    )
    .await;
    proxy.set_upstream(&stack.url("payment-service"));
    let token = stack.login("alice", "alice123").await;
    let reply = gizmo(&stack, &token, APPROVED).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let order_id = reply.body["order_id"].as_str().unwrap().to_owned();
    let trace_id = reply.trace_id.expect("traceresponse");

    // The charge was sent twice, under one key, and acted on once.
    let trace = stack.wait_for_trace(&trace_id, &["payment-service"]).await;
    let mut charges = trace.named("order-service", "POST /api/payments");
    charges.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(charges.len(), 2, "{}", trace.render());
    assert!(
        charges[0].event("exception").is_some(),
        "{}",
        trace.render()
    );
    assert_eq!(
        charges[1].attr("http.request.resend_count"),
        Some(&serde_json::json!(1)),
        "{}",
        trace.render()
    );
    let served = trace.named("payment-service", "POST /api/payments");
    assert_eq!(served.len(), 2, "{}", trace.render());
    assert_eq!(
        served
            .iter()
            .filter(|s| s.event("idempotent_replay").is_some())
            .count(),
        1,
        "the repeat is answered from the first:\n{}",
        trace.render()
    );
    let ledger = balanced(&stack).await;
    assert_eq!(ledger.payments[&order_id], ("approved".to_owned(), true));
    assert_eq!(ledger.payments.len(), 1, "charged once");
    stack.stop().await;
}

#[tokio::test]
async fn charges_the_shop_does_not_take_are_refused_before_anything_is_held() {
    let mut stack = TestStack::start_configured(
        &[],
        &[("payment-service", "PAYMENT_MAX_AMOUNT_CENTS", "50000")],
    )
    .await;
    let token = stack.login("alice", "alice123").await;

    // A well-formed code that is no currency the shop takes: refused by order-service, nothing
    // reserved.
    let body = serde_json::json!({
        "items": [{ "sku": "gizmo", "quantity": 1 }],
        "card_number": APPROVED,
        "currency": "ZZZ",
    });
    let reply = stack
        .call(
            reqwest::Method::POST,
            "/api/orders",
            Some(&token),
            &[],
            Some(body),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("USD"),
        "{}",
        reply.body
    );
    assert_eq!(stack.stock("gizmo").await["reserved"].as_i64(), Some(0));

    // payment-service itself, in order-service's name: an unsupported currency, and an amount
    // above its limit.
    for (amount_cents, currency) in [(999, "ZZZ"), (50_001, "USD"), (i64::MAX, "USD")] {
        let charge = serde_json::json!({
            "order_id": uuid_like(amount_cents), "amount_cents": amount_cents,
            "currency": currency, "card_number": APPROVED,
        });
        let reply = stack
            .signed(
                "order-service",
                reqwest::Method::POST,
                "payment-service",
                "/api/payments",
            )
            .json(&charge)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{amount_cents} {currency}");
    }
    // An order above the limit fails cleanly: 400, the stock released, nothing charged.
    let reply = stack.order(&token, "gizmo", 3, APPROVED).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let ledger = balanced(&stack).await;
    assert!(ledger.payments.is_empty(), "{:?}", ledger.payments);
    stack.stop().await;
}

/// An order id of its own for each charge `n`.
fn uuid_like(n: i64) -> String {
    format!(
        "00000000-0000-4000-8000-{:012x}",
        n.unsigned_abs() % 0x1_0000_0000_0000
    )
}
