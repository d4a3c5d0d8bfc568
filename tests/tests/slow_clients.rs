//! The HTTP server under slow and idle clients (slowloris): headers that trickle in are cut off
//! after `HTTP_HEADER_READ_TIMEOUT_MS`, connections past `HTTP_MAX_CONNECTIONS` wait in the
//! backlog instead of exhausting file descriptors, and real requests are served throughout.

use e2e::TestStack;
use std::time::{Duration, Instant};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test]
async fn slow_headers_are_cut_off_and_the_connection_cap_keeps_the_gateway_serving() {
    let stack = TestStack::start_configured(
        &[],
        &[
            ("gateway", "HTTP_HEADER_READ_TIMEOUT_MS", "1000"),
            ("gateway", "HTTP_MAX_CONNECTIONS", "50"),
        ],
    )
    .await;
    let address = stack.url("gateway").replace("http://", "");

    // 150 clients start a request and never finish its headers: three times the cap.
    let mut slow = Vec::new();
    for _ in 0..150 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(b"GET /api/inventory/widget HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }

    // A real request on a new connection (it waits behind the slow ones until they are cut off)
    // still gets its answer.
    let response = reqwest::Client::new()
        .get(format!("http://{address}/api/inventory/widget"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);

    // Every slow connection is closed by the server, none left open for good.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (i, stream) in slow.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut buffer = [0u8; 512];
        let closed = loop {
            match tokio::time::timeout(left, stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                // hyper may answer 408 before closing: read on until the end.
                Ok(Ok(_)) => continue,
                Err(_) => break false,
            }
        };
        assert!(closed, "slow connection {i} is still open");
    }
    let log = stack.log("gateway");
    assert!(!log.contains("Too many open files"), "{log}");
}
