//! Login throttling at auth-service, seen through the gateway: wrong passwords for one name are
//! refused with 429 and `Retry-After` after `LOGIN_MAX_FAILURES`, guesses from one address over
//! many names after `LOGIN_MAX_FAILURES_PER_ADDRESS`, and a flood of logins is shed with quick
//! 429s instead of slow answers that would open the gateway's breaker for everyone.

use e2e::TestStack;
use serde_json::{Value, json};
use tokio::task::JoinSet;

async fn login(
    http: &reqwest::Client,
    gateway: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    http.post(format!("{gateway}/api/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("the gateway answers")
}

#[tokio::test]
async fn wrong_passwords_are_throttled_and_a_flood_is_shed_without_opening_the_breaker() {
    let stack = TestStack::start_configured(
        &[],
        &[
            ("auth-service", "LOGIN_MAX_FAILURES", "3"),
            // This test is about names and the flood; the per-address limit has its own.
            ("auth-service", "LOGIN_MAX_FAILURES_PER_ADDRESS", "1000"),
        ],
    )
    .await;
    let (http, gateway) = (reqwest::Client::new(), stack.url("gateway"));

    // Three wrong passwords are answered 401; then even the right one waits out the window.
    for _ in 0..3 {
        assert_eq!(login(&http, &gateway, "bob", "guess").await.status(), 401);
    }
    let throttled = login(&http, &gateway, "bob", "bob123").await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    let body: Value = throttled.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["trace_id"].is_string(),
        "{body}"
    );
    // Another name is not affected.
    assert_eq!(
        login(&http, &gateway, "alice", "alice123").await.status(),
        200
    );

    // 64 concurrent logins with wrong passwords under 64 names: each is refused, quickly or after
    // its password check, and none waits so long that the gateway's call times out.
    let mut flood = JoinSet::new();
    for i in 0..64 {
        let (http, gateway) = (http.clone(), gateway.clone());
        flood.spawn(async move {
            login(&http, &gateway, &format!("user-{i}"), "guess")
                .await
                .status()
                .as_u16()
        });
    }
    let statuses = flood.join_all().await;
    let shed = statuses.iter().filter(|s| **s == 429).count();
    println!("login flood: {shed} of 64 shed with 429, the rest refused with 401");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // One check per core, each tens of milliseconds: 64 at once cannot all start within 250 ms.
    assert!(shed > 0, "no login was shed: {statuses:?}");

    // Afterwards a real user logs in, and the gateway's circuit to auth-service never opened.
    assert_eq!(
        login(&http, &gateway, "alice", "alice123").await.status(),
        200
    );
    let health: Value = http
        .get(format!("{gateway}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["circuits"]["auth-service"], "closed", "{health}");
}

#[tokio::test]
async fn one_address_guessing_over_many_names_is_throttled_and_cannot_pass_for_another() {
    let stack = TestStack::start_configured(
        &[],
        &[("auth-service", "LOGIN_MAX_FAILURES_PER_ADDRESS", "4")],
    )
    .await;
    let gateway = stack.url("gateway");
    // Two clients on loopback with addresses of their own.
    let from = |address: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(address))
            .build()
            .unwrap()
    };
    let (guesser, neighbour) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));

    for name in ["alice", "bob", "user-1", "user-2"] {
        assert_eq!(login(&guesser, &gateway, name, "guess").await.status(), 401);
    }
    let throttled = login(&guesser, &gateway, "user-3", "guess").await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let trace_id = tracecheck::traceresponse_trace_id(throttled.headers()).expect("traceresponse");

    // Claiming another address in Forwarded changes nothing: the gateway sets it.
    let spoofed = guesser
        .post(format!("{gateway}/api/login"))
        .header("forwarded", "for=203.0.113.9")
        .json(&json!({ "username": "alice", "password": "alice123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 429);

    // Another address is not affected, even for the names guessed at.
    assert_eq!(
        login(&neighbour, &gateway, "alice", "alice123")
            .await
            .status(),
        200
    );

    // The refusal is in the trace, with the limit that refused it and no password.
    let trace = stack
        .wait_for(&trace_id, "the refused login", |t| {
            t.spans
                .iter()
                .any(|s| s.name == "POST /api/login" && s.service_name == "auth-service")
        })
        .await;
    let login_span = trace.one("auth-service", "POST /api/login");
    let event = login_span
        .event("login_throttled")
        .unwrap_or_else(|| panic!("{}", trace.render()));
    assert_eq!(event.attributes["login.limit"], "address");
    assert!(!format!("{:?}", trace.spans).contains("guess"));
}
