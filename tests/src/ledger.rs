//! [`Ledger`]: what the services' own databases say about money and stock, read straight from
//! their SQLite files — the check that no card is charged, and no stock held, for an order that
//! does not stand.

use crate::TestStack;
use sqlx::SqlitePool;
use std::collections::HashMap;

/// The payments, orders and reservations of a stack, as stored.
#[derive(Debug)]
pub struct Ledger {
    /// payment-service: order id → (status, captured).
    pub payments: HashMap<String, (String, bool)>,
    /// order-service: order id → status.
    pub orders: HashMap<String, String>,
    /// inventory-service: order id → reservation status.
    pub reservations: HashMap<String, String>,
}

async fn open(stack: &TestStack, service: &str) -> SqlitePool {
    let path = stack.database(service);
    SqlitePool::connect(&format!("sqlite:{}?mode=ro", path.display()))
        .await
        .unwrap_or_else(|e| panic!("opening {service}'s database: {e}"))
}

impl Ledger {
    /// Reads the three databases now.
    pub async fn read(stack: &TestStack) -> Self {
        let payments = open(stack, "payment-service").await;
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT order_id, status, captured_at FROM payments")
                .fetch_all(&payments)
                .await
                .expect("reading payments");
        payments.close().await;
        let orders = open(stack, "order-service").await;
        let order_rows: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM orders")
            .fetch_all(&orders)
            .await
            .expect("reading orders");
        orders.close().await;
        let inventory = open(stack, "inventory-service").await;
        let reservation_rows: Vec<(String, String)> =
            sqlx::query_as("SELECT order_id, status FROM reservations")
                .fetch_all(&inventory)
                .await
                .expect("reading reservations");
        inventory.close().await;
        Ledger {
            payments: rows
                .into_iter()
                .map(|(order, status, captured)| (order, (status, captured.is_some())))
                .collect(),
            orders: order_rows.into_iter().collect(),
            reservations: reservation_rows.into_iter().collect(),
        }
    }

    /// The payment status of `order_id`, if it has one.
    pub fn payment(&self, order_id: &str) -> Option<&str> {
        self.payments
            .get(order_id)
            .map(|(status, _)| status.as_str())
    }

    /// Everything that does not add up: an approved payment whose order is not confirmed or
    /// fulfilled, a placed order without an approved payment, a held reservation, a committed
    /// one without a placed order. Empty when the money and the stock agree with the orders.
    pub fn problems(&self) -> Vec<String> {
        let placed = |order: &str| {
            matches!(
                self.orders.get(order).map(String::as_str),
                Some("confirmed" | "fulfilled")
            )
        };
        let mut problems = Vec::new();
        for (order, (status, _)) in &self.payments {
            if status == "approved" && !placed(order) {
                problems.push(format!(
                    "order {order}: charged, but the order is {:?}",
                    self.orders.get(order)
                ));
            }
        }
        for (order, status) in &self.orders {
            if matches!(status.as_str(), "confirmed" | "fulfilled")
                && self.payment(order) != Some("approved")
            {
                problems.push(format!(
                    "order {order} is {status}, its payment {:?}",
                    self.payment(order)
                ));
            }
        }
        for (order, status) in &self.reservations {
            match status.as_str() {
                "held" => problems.push(format!("order {order}: stock still held")),
                "committed" if !placed(order) => {
                    problems.push(format!(
                        "order {order}: stock sold, but the order is {:?}",
                        self.orders.get(order)
                    ));
                }
                _ => {}
            }
        }
        problems.sort();
        problems
    }
}
