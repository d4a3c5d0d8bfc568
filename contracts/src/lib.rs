//! What crosses a process boundary, declared once: the JSON bodies of every service's API (serde
//! and utoipa derives, so the gateway's OpenAPI document is generated from these same types),
//! the events handed over NATS JetStream, the status enums, money in cents, and one typed client
//! per service, used by every caller of it.
//!
//! One module per service; the JSON shapes are the project's public contract: fields may be
//! added, never renamed or dropped. Money travels as both a decimal (`total`, as the first
//! version of each API had it) and exact cents (`total_cents`).

pub mod auth;
pub mod events;
pub mod gateway;
pub mod inventory;
pub mod money;
pub mod order;
pub mod payment;
pub mod user;

/// The `service.name` of every service of the shop: the identities a deployment issues
/// (`SERVICE_IDENTITY_DIR`).
pub const SERVICES: [&str; 6] = [
    gateway::SERVICE_NAME,
    user::SERVICE_NAME,
    auth::SERVICE_NAME,
    order::SERVICE_NAME,
    inventory::SERVICE_NAME,
    payment::SERVICE_NAME,
];
