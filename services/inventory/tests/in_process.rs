//! inventory-service in-process: `build` binds port 0 and reports the port it got, starts the
//! service's background work (here the expiry of held stock), and `run_until_stopped` serves
//! until the shutdown future resolves.

use clap::Parser;
use inventory::{Config, build};
use serde_json::{Value, json};
use service_kit::{Identity, identity::SERVICE_AUTHORIZATION};
use std::time::{Duration, Instant};

#[tokio::test]
async fn built_on_port_zero_it_serves_expires_held_stock_and_stops_on_request() {
    // The service's own key, and the callers it admits: the gateway reads stock, order-service
    // holds it.
    let identities = tempfile::tempdir().unwrap();
    let services = ["inventory-service", "gateway", "order-service"];
    service_kit::identity::generate(identities.path(), &services).unwrap();
    let signed = |caller| {
        Identity::from_dir(identities.path(), caller)
            .unwrap()
            .credential_for("inventory-service")
            .unwrap()
    };
    let (gateway, order) = (signed("gateway"), signed("order-service"));
    let config = Config::try_parse_from([
        "inventory-service",
        "--service-identity-dir",
        identities.path().to_str().unwrap(),
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        "sqlite::memory:",
        "--inventory-consumer",
        "false",
        "--reservation-ttl-ms",
        "200",
    ])
    .unwrap();
    let application = build(&config).await.unwrap();
    let port = application.port();
    assert_ne!(port, 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let stock = || async {
        let stock: Value = http
            .get(format!("{url}/api/stock/gizmo"))
            .header(SERVICE_AUTHORIZATION, gateway.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            stock["available"].as_i64().unwrap(),
            stock["reserved"].as_i64().unwrap(),
        )
    };
    let before = stock().await;
    let reserved = http
        .post(format!("{url}/api/reservations"))
        .header(SERVICE_AUTHORIZATION, order)
        .json(&json!({ "order_id": "o-1", "items": [{ "sku": "gizmo", "quantity": 2 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(reserved.status(), 201);
    assert_eq!(stock().await, (before.0 - 2, before.1 + 2));

    // Nobody confirms or releases it: the expiry task the application started gives it back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stock().await != before {
        assert!(Instant::now() < deadline, "the held gizmos never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        http.get(format!("{url}/healthz")).send().await.is_err(),
        "stopped: nothing listens any more"
    );
}
