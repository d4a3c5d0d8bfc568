//! One client per downstream service, each over a traced [`shared_tracing::Downstream`].

mod auth;
mod inventory;
mod payment;
mod user;

pub(crate) use auth::AuthClient;
pub(crate) use inventory::InventoryClient;
pub(crate) use payment::{Charge, PaymentClient};
pub(crate) use user::UserClient;
