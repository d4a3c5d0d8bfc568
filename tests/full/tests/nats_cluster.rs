//! The event hops on a three-node JetStream cluster — real `nats-server` processes routed on
//! loopback, the shape deploy/k8s runs — with the ORDERS stream kept on all three nodes
//! (`STREAM_REPLICAS=3`) and two inventory-service processes on the one durable consumer: the
//! stream's leader is killed while orders come in, and no order, no event and no hop of a trace
//! is lost, and every event is committed exactly once.

use async_nats::jetstream;
use e2e::cards::APPROVED;
use e2e::{NatsCluster, TestStack};
use std::time::Duration;

const ORDERS: usize = 60;

/// The ORDERS stream as the cluster describes it, once it exists.
async fn orders_stream(js: &jetstream::Context) -> jetstream::stream::Info {
    for _ in 0..200 {
        if let Ok(mut stream) = js.get_stream("ORDERS").await
            && let Ok(info) = stream.info().await
        {
            return info.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no ORDERS stream");
}

#[tokio::test]
async fn the_streams_leader_killed_under_load_loses_no_order_no_event_and_no_hop() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = NatsCluster::start(dir.path(), 3).await;
    let mut stack = TestStack::start_configured(
        &[("NATS_URL", &cluster.urls())],
        &[("order-service", "STREAM_REPLICAS", "3")],
    )
    .await;
    // Two consumers share the durable consumer `inventory`: the events are split between them.
    stack.start_replica("inventory-service").await;
    let token = stack.login("alice", "alice123").await;
    let sold_before = stack.stock("widget").await["sold"].as_i64().unwrap();

    // The first order makes order-service create the stream: three replicas, one per node.
    let first = stack.order(&token, "widget", 1, APPROVED).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let js = jetstream::new(async_nats::connect(cluster.url(0)).await.unwrap());
    let info = orders_stream(&js).await;
    assert_eq!(info.config.num_replicas, 3);
    let placement = info.cluster.expect("a clustered stream");
    let leader = placement.leader.expect("a stream leader");
    assert_eq!(placement.replicas.len(), 2, "two followers of {leader}");
    let leader_index: usize = leader.trim_start_matches("nats-").parse().unwrap();

    // Orders keep coming; a third of the way in, the stream's leader is lost.
    let mut placed = vec![(
        first.body["order_id"].as_str().unwrap().to_owned(),
        first.trace_id.unwrap(),
    )];
    let mut killed_at = std::time::Instant::now();
    for i in 1..ORDERS {
        if i == ORDERS / 3 {
            cluster.kill(leader_index);
            killed_at = std::time::Instant::now();
            println!("killed {leader}, the ORDERS stream's leader, after {i} orders");
        }
        let reply = stack.order(&token, "widget", 1, APPROVED).await;
        // Orders are taken whatever the broker does: the event waits in the outbox.
        assert_eq!(reply.status, 201, "order {i}: {:?}", reply.body);
        placed.push((
            reply.body["order_id"].as_str().unwrap().to_owned(),
            reply.trace_id.unwrap(),
        ));
    }

    // No event lost: every order's `orders.created` reached inventory-service and its
    // `orders.fulfilled` came back, on the two surviving nodes.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut waiting = Vec::new();
        for (order_id, _) in &placed {
            let status = stack.get_order(&token, order_id).await.body["status"].clone();
            if status != "fulfilled" {
                waiting.push(format!("{order_id}: {status}"));
            }
        }
        if waiting.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let stream = orders_stream(&js).await;
            let mut report = format!("stream: {:?}\n{:?}\n", stream.state, stream.cluster);
            for durable in ["inventory", "order"] {
                let consumer = js
                    .get_stream("ORDERS")
                    .await
                    .unwrap()
                    .consumer_info(durable)
                    .await;
                report += &format!("consumer {durable}: {consumer:?}\n");
            }
            let logs: String = stack
                .logs()
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "{} of {} orders not fulfilled: {waiting:?}\n{report}\n{logs}",
                waiting.len(),
                placed.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "every order fulfilled {:.1} s after the leader was killed",
        killed_at.elapsed().as_secs_f64()
    );
    // Each sold exactly once, though two consumers shared the events and a node went down.
    let sold = stack.stock("widget").await["sold"].as_i64().unwrap();
    assert_eq!(sold - sold_before, ORDERS as i64);

    // No hop lost from a trace: each order's is complete, both async hops joined, and its
    // event was committed by exactly one delivery (a redelivery says `already_committed`).
    let mut consumers = std::collections::BTreeSet::new();
    for (order_id, trace_id) in &placed {
        let trace = stack
            .wait_for_trace(trace_id, &tracecheck::ORDER_SERVICES)
            .await;
        assert_eq!(
            trace.problems(&tracecheck::ORDER_SERVICES),
            Vec::<String>::new(),
            "order {order_id}"
        );
        let committed: Vec<_> = trace
            .named("inventory-service", "process orders.created")
            .into_iter()
            .filter(|span| span.attr_str("outcome") == Some("committed"))
            .collect();
        assert_eq!(committed.len(), 1, "order {order_id}:\n{}", trace.render());
        consumers.extend(
            committed[0]
                .resource
                .get("service.instance.id")
                .and_then(|id| id.as_str())
                .map(str::to_owned),
        );
    }
    println!(
        "{} orders, all fulfilled and complete; events committed by {} inventory-service process(es)",
        placed.len(),
        consumers.len()
    );

    // The lost node comes back and catches up: the stream is whole on three nodes again.
    let resumed = std::time::Instant::now();
    cluster.resume(leader_index).await;
    stack
        .eventually(
            Duration::from_secs(30),
            "three current replicas",
            || async {
                let info = orders_stream(&js).await;
                let cluster = info.cluster?;
                (cluster.replicas.len() == 2 && cluster.replicas.iter().all(|r| r.current))
                    .then_some(())
            },
        )
        .await;
    println!(
        "{leader} back and current {:.1} s after its restart",
        resumed.elapsed().as_secs_f64()
    );
}
