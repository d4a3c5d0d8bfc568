//! `cargo run --release -p stack`: the six services, nats-server and the embedded trace viewer
//! (or, with `--backends real`, the real OpenTelemetry Collector and Jaeger v2).

use clap::{Parser, ValueEnum};
use std::{path::PathBuf, process::ExitCode};

/// Runs the whole demo locally, without Docker.
#[derive(Debug, Parser)]
#[command(name = "stack", version, about)]
struct Args {
    /// Send spans to this OTLP/HTTP endpoint (e.g. a collector) instead of the embedded viewer.
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// Spans the embedded viewer keeps; the oldest traces are evicted first.
    #[arg(long, default_value_t = otlp_receiver::DEFAULT_MAX_SPANS)]
    max_spans: usize,
    /// Add this to every port (8080-8085, 4222, 4317, 4318, 5778, 16686; with real backends also
    /// 9090, 13133-13134, 14317-14318, 16685, 16687) to run beside what already uses them.
    #[arg(long, default_value_t = 0)]
    port_offset: u16,
    /// Folder for the SQLite databases and the NATS store.
    #[arg(long, default_value = ".stack")]
    data_dir: PathBuf,
    /// Run the service binaries in this folder (e.g. target/release) instead of building them.
    #[arg(long, env = "STACK_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// `embedded`: the built-in trace viewer. `real`: compose's topology — the OpenTelemetry
    /// Collector (OTELCOL_CONFIG) and Jaeger v2, built from the Go module proxy (needs Go).
    #[arg(long, value_enum, default_value_t = BackendsArg::Embedded)]
    backends: BackendsArg,
    /// Use this NATS server (one URL, or a cluster's separated by commas) instead of starting
    /// nats-server.
    #[arg(long, env = "NATS_URL")]
    nats_url: Option<String>,
    /// With `--backends real`: the Collector configuration to run (default: `.env`'s, as compose
    /// reads it).
    #[arg(long, env = "OTELCOL_CONFIG")]
    collector_config: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendsArg {
    Embedded,
    Real,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let options = stack::Options {
        otlp_endpoint: args.otlp_endpoint,
        max_spans: args.max_spans,
        port_offset: args.port_offset,
        data_dir: args.data_dir,
        // Against this folder, where the caller meant it: the children run in the data folder.
        bin_dir: args
            .bin_dir
            .map(std::path::absolute)
            .transpose()
            .unwrap_or_else(|error| {
                eprintln!("stack: --bin-dir: {error}");
                std::process::exit(2)
            }),
        backends: match args.backends {
            BackendsArg::Embedded => stack::Backends::Embedded,
            BackendsArg::Real => stack::Backends::Real,
        },
        nats_url: args.nats_url,
        collector_config: args.collector_config,
    };
    match stack::run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stack: {error}");
            ExitCode::FAILURE
        }
    }
}
