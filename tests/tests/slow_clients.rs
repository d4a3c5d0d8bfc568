//! The HTTP server under slow and idle clients (slowloris): connections that send nothing or
//! trickle their headers are closed after `HTTP_HEADER_READ_TIMEOUT_MS` (the trickling ones
//! answered 408 first), connections past
//! `HTTP_MAX_CONNECTIONS` wait in the backlog instead of exhausting file descriptors, a body that
//! never arrives is cut off, and real requests are served throughout.

use e2e::TestStack;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Reads until the server closes the connection (an answer before the close is allowed);
/// false when it is still open after `timeout`.
async fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    answer_before_close(stream, timeout).await.is_some()
}

/// What the server sent before it closed the connection, or `None` when it is still open after
/// `timeout`.
async fn answer_before_close(stream: &mut TcpStream, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&answer).into_owned()),
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_cut_off_and_the_cap_holds_the_rest_back() {
    let stack = TestStack::start_configured(
        &[],
        &[
            ("gateway", "HTTP_HEADER_READ_TIMEOUT_MS", "3000"),
            ("gateway", "HTTP_MAX_CONNECTIONS", "50"),
        ],
    )
    .await;
    let address = stack.url("gateway").replace("http://", "");
    let url = format!("http://{address}/api/inventory/widget");

    // 50 clients connect and send nothing; 100 more start a request and never finish its
    // headers: three times the cap in all.
    let mut held = Vec::new();
    for i in 0..150 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        if i >= 50 {
            stream
                .write_all(b"GET /api/inventory/widget HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(stream);
    }

    // The cap holds: with 50 connections open, a new one is not served yet.
    let early = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_millis(1000))
        .send()
        .await;
    assert!(early.is_err(), "served past the cap: {early:?}");

    // Once the held ones are cut off, a real request on a new connection is answered.
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("an answer once the idle connections are closed");
    assert_eq!(response.status(), 200);

    // Every held connection is closed by the server, none left open for good: a silent one
    // without a word, one whose headers trickled with a 408 and the JSON error body.
    for (i, stream) in held.iter_mut().enumerate() {
        let kind = if i < 50 { "silent" } else { "slow headers" };
        let answer = answer_before_close(stream, Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("connection {i} ({kind}) is still open"));
        if i < 50 {
            assert_eq!(answer, "", "connection {i} ({kind})");
        } else {
            assert!(
                answer.starts_with("HTTP/1.1 408 "),
                "connection {i} ({kind}): {answer:?}"
            );
            let body: serde_json::Value =
                serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())
                    .unwrap_or_default();
            assert!(body["error"].is_string(), "{answer}");
        }
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    let stack = TestStack::start().await;
    let address = stack.url("gateway").replace("http://", "");
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(
            b"POST /api/login HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\":",
        )
        .await
        .unwrap();
    // The request-body timeout is 30 s: the request is answered (an error) and closed, or
    // closed, well before a minute.
    assert!(
        closed_within(&mut stream, Duration::from_secs(60)).await,
        "a request whose body never came still holds its connection"
    );
}

#[tokio::test]
async fn an_oversized_request_target_or_header_gets_a_json_answer_with_its_trace_id() {
    let stack = TestStack::start().await;
    let address = stack.url("gateway").replace("http://", "");
    let target = format!("/api/inventory/{}", "x".repeat(20 * 1024));
    let padding = format!("X-Padding: {}\r\n", "y".repeat(70 * 1024));
    for (expected, target, extra) in [
        ("414", target.as_str(), ""),
        ("431", "/api/inventory/widget", padding.as_str()),
    ] {
        // Raw HTTP: a client library refuses to send a target this long.
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: gateway\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("an answer in time")
            .expect("an answer");
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split_whitespace().nth(1).unwrap_or_default();
        assert_eq!(status, expected, "{}", &answer[..answer.len().min(300)]);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
        assert!(
            body["error"].is_string() && body["trace_id"].is_string(),
            "{expected}: {body}"
        );
    }
}
