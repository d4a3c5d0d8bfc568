//! Login throttling at auth-service, seen through the gateway: wrong passwords for one name are
//! refused with 429 and `Retry-After` after `LOGIN_MAX_FAILURES`, and a flood of logins is shed
//! with quick 429s instead of slow answers that would open the gateway's breaker for everyone.

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
    let stack =
        TestStack::start_configured(&[], &[("auth-service", "LOGIN_MAX_FAILURES", "3")]).await;
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
