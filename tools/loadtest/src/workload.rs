//! The load: a fixed mix of the shop's requests through the gateway from logged-in clients, each
//! request timed — closed loop (each client sends its next request when the last is answered) or
//! open loop (requests due at a constant rate, however the server keeps up).

use reqwest::{Client, Method};
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The kinds of request in the mix, in the order the mix cycles through them.
pub(crate) const KINDS: [&str; 4] = [
    "GET /api/inventory/{sku}",
    "GET /api/users/{id}",
    "GET /api/inventory/{sku}",
    "POST /api/orders",
];

/// One timed request.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) kind: &'static str,
    /// When it was sent (closed loop) or due (open loop).
    pub(crate) started: Instant,
    pub(crate) latency: Duration,
    pub(crate) ok: bool,
    /// From the answer's `traceresponse` header: the trace the request made.
    pub(crate) trace_id: Option<String>,
}

/// A logged-in customer.
#[derive(Clone)]
pub(crate) struct Customer {
    token: String,
    user_id: i64,
}

/// Logs `count` clients in (alice and bob in turn) on the gateway at `base`.
pub(crate) async fn log_in(
    http: &Client,
    base: &str,
    count: usize,
) -> Result<Vec<Customer>, String> {
    let mut customers = Vec::with_capacity(count);
    for i in 0..count {
        let (username, password) = [("alice", "alice123"), ("bob", "bob123")][i % 2];
        let reply: Value = http
            .post(format!("{base}/api/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("logging in as {username}: {e}"))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        customers.push(Customer {
            token: reply["token"].as_str().unwrap_or_default().to_owned(),
            user_id: reply["user_id"].as_i64().unwrap_or_default(),
        });
    }
    Ok(customers)
}

/// Sends requests `first..first + count` of the mix from the customers concurrently (one task
/// each) and returns every sample.
pub(crate) async fn run(
    http: &Client,
    base: &str,
    customers: &[Customer],
    first: usize,
    count: usize,
) -> Vec<Sample> {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let tasks: Vec<_> = customers
        .iter()
        .cloned()
        .map(|customer| {
            let (http, base, next) = (http.clone(), base.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= end {
                        return samples;
                    }
                    samples.push(request(&http, &base, &customer, index, Instant::now()).await);
                }
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(count);
    for task in tasks {
        samples.extend(task.await.unwrap_or_default());
    }
    samples
}

/// Sends requests `first..` of the mix at `rate` per second for `duration` (customers in turn),
/// each as its own task the moment it is due, whether or not earlier ones were answered; a
/// request's latency counts from when it was due, so a server that stalls is charged for the
/// queue behind it too (no coordinated omission). Returns every sample and the count sent.
pub(crate) async fn run_open(
    http: &Client,
    base: &str,
    customers: &[Customer],
    first: usize,
    rate: f64,
    duration: Duration,
) -> Vec<Sample> {
    let count = (rate * duration.as_secs_f64()).round() as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (http, base) = (http.clone(), base.to_owned());
        // Customers in turn per cycle of the mix, so each sends every kind of request.
        let customer = customers[(i / KINDS.len()) % customers.len()].clone();
        tasks.spawn(
            async move { request(&http, &base, &customer, first + i, due.into_std()).await },
        );
    }
    let mut samples = Vec::with_capacity(count);
    while let Some(sample) = tasks.join_next().await {
        samples.extend(sample.ok());
    }
    samples
}

/// Request number `index` of the mix, timed from `started`: when it was sent, or, in an open
/// loop, when it was due.
async fn request(
    http: &Client,
    base: &str,
    customer: &Customer,
    index: usize,
    started: Instant,
) -> Sample {
    let kind = KINDS[index % KINDS.len()];
    let sku = ["widget", "gadget"][(index / KINDS.len()) % 2];
    let (method, path, body) = match index % KINDS.len() {
        1 => (
            Method::GET,
            format!("/api/users/{}", customer.user_id),
            None,
        ),
        3 => (
            Method::POST,
            "/api/orders".to_owned(),
            Some(json!({
                "items": [{ "sku": sku, "quantity": 1 }],
                "card_number": "4242424242424242",
            })),
        ),
        _ => (Method::GET, format!("/api/inventory/{sku}"), None),
    };
    let mut builder = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(&customer.token);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let (ok, trace_id) = match builder.send().await {
        Ok(response) => {
            let trace_id = tracecheck::traceresponse_trace_id(response.headers());
            // Read the whole body: the request is done when the answer is in.
            let ok = response.status().is_success() && response.bytes().await.is_ok();
            (ok, trace_id)
        }
        Err(_) => (false, None),
    };
    Sample {
        kind,
        started,
        latency: started.elapsed(),
        ok,
        trace_id,
    }
}
