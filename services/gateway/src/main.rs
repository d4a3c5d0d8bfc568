//! gateway binary: read config, start telemetry, serve until SIGTERM or Ctrl-C.

use clap::Parser;
use gateway::{AppState, Config, SERVICE_NAME, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    let _telemetry = shared_tracing::init(SERVICE_NAME, env!("CARGO_PKG_VERSION"))?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    service_kit::serve(listener, app(AppState::new(&config)), config.server).await?;
    Ok(())
}
