//! auth-service binary: read config, start telemetry, serve until SIGTERM or Ctrl-C.

use auth::{Config, SERVICE_NAME, build};
use clap::Parser;

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
