//! order-service: placing orders and reading them back.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use utoipa::ToSchema;

/// order-service's `service.name`.
pub const SERVICE_NAME: &str = "order-service";

/// One line of an order: a product and how many (also a reservation's and an event's line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = OrderLine)]
pub struct Line {
    /// The product.
    #[schema(example = "widget")]
    pub sku: String,
    /// How many.
    #[schema(minimum = 1, maximum = 1000, example = 2)]
    pub quantity: i64,
}

/// `POST /api/orders`. Deliberately not `Debug`: it holds the full card number.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OrderRequest {
    /// What to order.
    #[schema(min_items = 1)]
    pub items: Vec<Line>,
    /// 12 to 19 digits passing the Luhn check (spaces allowed between them).
    #[schema(example = "4242424242424242")]
    pub card_number: String,
    /// ISO 4217, one the shop takes ([`crate::money::CURRENCIES`]: AUD, CAD, CHF, CZK, DKK, EUR,
    /// GBP, NOK, NZD, PLN, SEK, USD; any other is refused with 400); `USD` when left out.
    #[serde(default = "usd")]
    #[schema(example = "USD", required = false)]
    pub currency: String,
}

fn usd() -> String {
    "USD".to_owned()
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Paid, its stock held; its `orders.created` event is on its way.
    Confirmed,
    /// Its stock is sold.
    Fulfilled,
    /// The card was declined; nothing is held or charged.
    PaymentDeclined,
}

impl OrderStatus {
    /// The name stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Fulfilled => "fulfilled",
            Self::PaymentDeclined => "payment_declined",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "confirmed" => Ok(Self::Confirmed),
            "fulfilled" => Ok(Self::Fulfilled),
            "payment_declined" => Ok(Self::PaymentDeclined),
            other => Err(format!("no order status {other:?}")),
        }
    }
}

/// The 201 answer to a placed order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = OrderCreated)]
pub struct OrderPlaced {
    /// The new order.
    pub order_id: String,
    /// `confirmed`.
    pub status: OrderStatus,
    /// What was charged, as a decimal amount.
    pub total: f64,
    /// The same in cents.
    pub total_cents: i64,
}

impl OrderPlaced {
    /// A confirmed order of `total_cents`.
    pub fn confirmed(order_id: String, total_cents: i64) -> Self {
        Self {
            order_id,
            status: OrderStatus::Confirmed,
            total: crate::money::decimal(total_cents),
            total_cents,
        }
    }
}

/// An order as its owner reads it (`GET /api/orders/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Order {
    /// The order.
    pub order_id: String,
    /// Its customer.
    pub user_id: i64,
    /// Where it stands.
    pub status: OrderStatus,
    /// Its total, as a decimal amount.
    pub total: f64,
    /// The same in cents.
    pub total_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// One line per SKU.
    pub items: Vec<Line>,
    /// When it was placed (RFC 3339, UTC).
    pub created_at: String,
}
