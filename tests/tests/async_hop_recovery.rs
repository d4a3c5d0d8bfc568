//! The `order.created` hop when something is away: no event or link is lost when the consumer,
//! the service or the broker stops, is killed or comes back empty, and an event that comes after
//! its reservation expired still sells the stock once. Real nats-server.

use e2e::TestStack;
use e2e::async_hop::*;
use std::time::Duration;

#[tokio::test]
async fn events_wait_for_a_stopped_consumer_and_are_processed_exactly_once_even_after_sigkill() {
    let mut stack = TestStack::start().await;
    let token = stack.login("bob", "bob123").await;

    // API only: reservations still work over HTTP, events queue in the stream.
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "false")])
        .await;
    let mut orders = Vec::new();
    let mut ordered = 0;
    for i in 0..20 {
        let quantity = 1 + i % 3;
        ordered += quantity;
        orders.push(place(&stack, &token, quantity).await);
    }
    let stock = stack.stock("widget").await;
    assert_eq!(
        (stock["reserved"].as_i64(), stock["sold"].as_i64()),
        (Some(ordered), Some(0))
    );

    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "true")])
        .await;
    assert_sold_exactly(&stack, ordered).await;
    for (order_id, trace_id) in &orders {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        assert_async_hop(&trace, order_id);
    }

    // Again, but SIGKILL the consumer as soon as it has sold part of the batch.
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "false")])
        .await;
    let before = ordered;
    for i in 0..40 {
        let quantity = 1 + i % 2;
        ordered += quantity;
        place(&stack, &token, quantity).await;
    }
    stack.stop_service("inventory-service").await;
    stack
        .start_service("inventory-service", &[("INVENTORY_CONSUMER", "true")])
        .await;
    let at_kill = stack
        .eventually(Duration::from_secs(30), "the batch to start", || async {
            let sold = sold_widgets(&stack).await;
            (sold > before).then_some(sold)
        })
        .await;
    stack.kill_service("inventory-service");
    assert!(
        at_kill < ordered,
        "the batch finished before the kill ({at_kill} of {ordered})"
    );
    stack.start_service("inventory-service", &[]).await;
    assert_sold_exactly(&stack, ordered).await;
}

#[tokio::test]
async fn events_go_on_when_the_broker_returns_with_an_empty_store() {
    let mut stack = TestStack::start().await;
    let (token, _, _) = warm_up(&stack).await;

    // The broker comes back without its store: no stream, no consumer.
    stack.nats().stop().await;
    stack.nats().wipe();
    stack.nats().resume().await;
    let jetstream = async_nats::jetstream::new(stack.nats().client().await);
    assert!(
        jetstream.get_stream("ORDERS").await.is_err(),
        "the stream survived the wipe"
    );

    // The relay and the consumer set up what they need again, and the event goes through.
    let (order_id, trace_id) = place(&stack, &token, 1).await;
    let trace = stack
        .wait_for(&trace_id, "a consumer span", has_successful_consumer)
        .await;
    assert_async_hop(&trace, &order_id);
    assert_sold_exactly(&stack, 2).await;
    // order-service's consumer of orders.fulfilled came back too.
    stack
        .eventually(Duration::from_secs(30), "the order fulfilled", || async {
            let order = stack.get_order(&token, &order_id).await;
            (order.body["status"] == "fulfilled").then_some(())
        })
        .await;
}

#[tokio::test]
async fn orders_taken_while_nats_is_down_are_all_delivered_when_it_returns() {
    let mut stack = TestStack::start().await;
    // The stream exists before the broker goes away.
    let (token, first_order, first_trace) = warm_up(&stack).await;

    stack.nats().stop().await;
    let mut orders = Vec::new();
    for _ in 0..10 {
        orders.push(place(&stack, &token, 1).await);
    }
    let pending = stack.stock("widget").await;
    assert_eq!(
        (pending["sold"].as_i64(), pending["reserved"].as_i64()),
        (Some(1), Some(10))
    );

    stack.nats().resume().await;
    assert_sold_exactly(&stack, 11).await;
    for (order_id, trace_id) in orders.iter().chain([(first_order, first_trace)].iter()) {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        assert_async_hop(&trace, order_id);
    }
}

#[tokio::test]
async fn events_that_come_after_the_reservation_expired_still_sell_the_stock_once() {
    let mut stack =
        TestStack::start_configured(&[], &[("inventory-service", "RESERVATION_TTL_MS", "1000")])
            .await;
    let (token, _, _) = warm_up(&stack).await;
    let on_sale = stack.stock("widget").await["available"].as_i64().unwrap();

    // The broker is down longer than the TTL: the three orders' reservations expire and their
    // widgets go back on sale before the events can come.
    stack.nats().stop().await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(place(&stack, &token, 1).await);
    }
    stack
        .eventually(
            Duration::from_secs(15),
            "the reservations expired",
            || async {
                let stock = stack.stock("widget").await;
                (stock["reserved"] == 0 && stock["available"] == on_sale).then_some(())
            },
        )
        .await;

    // Back up: each event sells its widget from what is on sale, once.
    stack.nats().resume().await;
    assert_sold_exactly(&stack, 4).await;
    assert_eq!(
        stack.stock("widget").await["available"].as_i64(),
        Some(on_sale - 3)
    );
    for (order_id, trace_id) in &orders {
        let trace = stack
            .wait_for(trace_id, "a consumer span", has_successful_consumer)
            .await;
        let consumer = assert_async_hop(&trace, order_id);
        assert_eq!(
            commit_outcome(&trace, &consumer),
            Some("committed_after_expiry"),
            "{}",
            trace.render()
        );
        assert!(
            trace
                .spans
                .iter()
                .any(|s| s.name == "inventory.expire_reservation"),
            "{}",
            trace.render()
        );
    }
}
