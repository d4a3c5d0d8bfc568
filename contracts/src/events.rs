//! The events services hand each other over NATS JetStream: their stream, subjects and payloads.

use crate::order::Line;
use serde::{Deserialize, Serialize};
use service_kit::events::{Event, Stream};

/// The stream that holds every order event (`orders.>`, the dead letters included). Events that
/// keep failing go to `orders.dlq` with their headers, trace context included.
pub const ORDERS: Stream = Stream {
    name: "ORDERS",
    subjects: "orders.>",
    dead_letter_subject: "orders.dlq",
};

/// A confirmed order (paid, its stock held): order-service publishes it through its outbox, and
/// inventory-service sells the held stock. Only `order_id` is required to read one, so other
/// tools can announce orders too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order.
    pub order_id: String,
    /// Its customer.
    #[serde(default)]
    pub user_id: i64,
    /// The stock held for it; when given, it must be the order's reservation.
    #[serde(default)]
    pub reservation_id: Option<String>,
    /// What was ordered, one line per SKU.
    #[serde(default)]
    pub items: Vec<Line>,
    /// What was charged, in cents.
    #[serde(default)]
    pub total_cents: i64,
    /// The same as a decimal amount, as the JSON APIs show money.
    #[serde(default)]
    pub total: f64,
    /// ISO 4217.
    #[serde(default)]
    pub currency: String,
}

impl Event for OrderCreated {
    const STREAM: Stream = ORDERS;
    const SUBJECT: &'static str = "orders.created";
    const TYPE: &'static str = "order.created";
    fn message_id(&self) -> String {
        self.order_id.clone()
    }
}

/// An order's stock is sold: inventory-service publishes it after the sale, and order-service
/// marks the order `fulfilled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFulfilled {
    /// The order.
    pub order_id: String,
    /// The reservation whose stock was sold.
    pub reservation_id: String,
}

impl Event for OrderFulfilled {
    const STREAM: Stream = ORDERS;
    const SUBJECT: &'static str = "orders.fulfilled";
    const TYPE: &'static str = "order.fulfilled";
    fn message_id(&self) -> String {
        format!("{}:{}", Self::TYPE, self.order_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::events::payload;

    #[test]
    fn payloads_carry_their_event_type_and_read_back() {
        let event = OrderFulfilled {
            order_id: "o-1".into(),
            reservation_id: "r-1".into(),
        };
        let json: serde_json::Value = serde_json::from_slice(&payload(&event)).unwrap();
        assert_eq!(json["event_type"], "order.fulfilled");
        assert_eq!(json["order_id"], "o-1");
        let back: OrderFulfilled = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert_eq!(event.message_id(), "order.fulfilled:o-1");
    }

    #[test]
    fn an_order_created_needs_only_its_order_id() {
        let event: OrderCreated = serde_json::from_str(r#"{"order_id": "external-1"}"#).unwrap();
        assert_eq!(event.order_id, "external-1");
        assert_eq!(event.reservation_id, None);
        assert!(serde_json::from_str::<OrderCreated>(r#"{"items": []}"#).is_err());
    }

    #[test]
    fn the_stream_holds_its_dead_letters() {
        let subjects = ORDERS.subjects.trim_end_matches('>');
        for subject in [
            OrderCreated::SUBJECT,
            OrderFulfilled::SUBJECT,
            ORDERS.dead_letter_subject,
        ] {
            assert!(subject.starts_with(subjects), "{subject}");
        }
    }
}
