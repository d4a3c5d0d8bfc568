//! payment-service binary: read config, start telemetry, serve until SIGTERM or Ctrl-C.

use clap::Parser;
use payment::{Config, SERVICE_NAME, build};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    let _telemetry = shared_tracing::init(SERVICE_NAME, env!("CARGO_PKG_VERSION"))?;
    let application = build(&config).await?;
    application
        .run_until_stopped(service_kit::shutdown_signal())
        .await?;
    Ok(())
}
