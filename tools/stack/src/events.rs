//! Waiting for the async hops to settle: the durable consumers with nothing pending and nothing
//! awaiting an ack, so no delivery, first or repeated, can still come. The test harness waits so
//! before counting what an event did; the load tool before stopping a side, so the traces it
//! counts are not cut off mid-hop.

use async_nats::jetstream::consumer::pull;
use std::time::{Duration, Instant};

/// Waits until every consumer in `durables` of the ORDERS stream on `nats_url` is idle, or fails
/// with what it last saw after `timeout`.
pub async fn consumers_idle(
    nats_url: &str,
    durables: &[&str],
    timeout: Duration,
) -> Result<(), String> {
    let client = async_nats::connect(nats_url)
        .await
        .map_err(|e| format!("connecting to {nats_url}: {e}"))?;
    let jetstream = async_nats::jetstream::new(client);
    let deadline = Instant::now() + timeout;
    loop {
        let mut busy = Vec::new();
        for durable in durables {
            let info = async {
                let stream = jetstream.get_stream("ORDERS").await.ok()?;
                let mut consumer = stream.get_consumer::<pull::Config>(durable).await.ok()?;
                consumer.info().await.ok().cloned()
            }
            .await;
            match info {
                Some(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
                other => busy.push(format!(
                    "{durable}: {}",
                    other.map_or("not there".into(), |i| format!(
                        "{} pending, {} awaiting an ack",
                        i.num_pending, i.num_ack_pending
                    ))
                )),
            }
        }
        if busy.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("consumers not idle: {}", busy.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
