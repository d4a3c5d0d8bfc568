//! One client per downstream service, each over a traced [`service_kit::Downstream`].

mod auth;
mod inventory;
mod payment;
mod user;

pub(crate) use auth::AuthClient;
pub(crate) use inventory::{InventoryClient, Reservation};
pub(crate) use payment::{Charge, Payment, PaymentClient};
pub(crate) use user::UserClient;

/// POSTs `path` (route `template`) to `downstream` and returns the `status` its 200 answer names:
/// the compensations' calls (void a payment, release an order's stock). Any other answer is the
/// callee's failure.
async fn post_for_status(
    downstream: &service_kit::Downstream,
    template: &'static str,
    path: &str,
) -> Result<String, crate::Error> {
    #[derive(serde::Deserialize)]
    struct Outcome {
        status: String,
    }
    let request = downstream.request(reqwest::Method::POST, path);
    let response = downstream.send(template, request).await?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(response.unexpected_status().into());
    }
    Ok(response.json::<Outcome>().await?.status)
}
