//! order-service binary: read config, start telemetry, serve until SIGTERM or Ctrl-C.

use clap::Parser;
use order::{AppState, Config, SERVICE_NAME, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    let _telemetry = shared_tracing::init(SERVICE_NAME, env!("CARGO_PKG_VERSION"))?;
    let state = AppState::connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    service_kit::serve(listener, app(state), config.server).await?;
    Ok(())
}
