//! What tracing costs, measured: the six-service stack started twice — traced (every request
//! sampled and exported over OTLP/HTTP) and untraced (`OTEL_SDK_DISABLED=true`) — and the same
//! mix of requests sent to both in interleaved rounds, so a noisy machine slows both alike:
//! closed loop (as fast as the clients get answers: the capacity) or open loop (`--rate` for
//! `--duration`: latency and cost at a set load). It prints throughput, latency percentiles (HDR
//! histograms), the services' CPU time per request and their memory side by side with the
//! traced/untraced ratio, and how many of the traces the load caused arrived complete.

mod report;
mod side;
mod workload;

use side::Side;
use std::{path::PathBuf, time::Duration, time::Instant};
use workload::Sample;

/// How to load the stacks.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "loadtest", version, about)]
pub struct Options {
    /// Requests sent to each side in a closed loop (every fourth is an order).
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Concurrent clients of the closed loop (each logged in once, as alice or bob); in an open
    /// loop, the logged-in customers the requests take turns to come from.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Open loop: requests per second (all kinds together; a quarter are orders), due at this
    /// constant rate whether or not earlier ones were answered. Replaces `--requests`.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: how long each side is loaded, in seconds (split across the rounds).
    #[arg(long, default_value_t = 20.0, requires = "rate")]
    pub duration: f64,
    /// Rounds; each side gets its share of every round, and the side that goes first alternates.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Root sampling ratio of the traced side (`OTEL_TRACES_SAMPLER_ARG`).
    #[arg(long, default_value_t = 1.0)]
    pub sample_ratio: f64,
    /// Takes the traced side's span receiver away for this many seconds, starting a second
    /// into the first round's load (port closed, connections dropped), then brings it back:
    /// requests must not fail; the report shows what was lost.
    #[arg(long, default_value_t = 0.0)]
    pub receiver_outage: f64,
    /// Sends this traced service SIGTERM a second into the first round's load, waits for it to
    /// exit and starts it again: the requests it had in flight must finish, and their traces
    /// arrive complete (its spans flushed on the way out); the report counts what failed while it
    /// was away. CPU per request is not measured on that side then.
    #[arg(long, value_parser = service_name)]
    pub sigterm: Option<String>,
    /// A variable for the traced side's services, `KEY=VALUE` (repeatable): measure exporter
    /// settings such as `OTEL_EXPORTER_OTLP_COMPRESSION=gzip` or `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
    #[arg(long = "traced-env", value_parser = key_value)]
    pub traced_env: Vec<(String, String)>,
    /// A W3C `baggage` header sent with every request to both sides, e.g. per-request faults:
    /// `fault.inventory-service=slow:200` keeps requests in flight there for `--sigterm`.
    #[arg(long)]
    pub baggage: Option<String>,
    /// Print the figures as JSON instead of a table.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print the figures as a Markdown table (docs/performance.md's is one).
    #[arg(long)]
    pub markdown: bool,
    /// Run the service binaries in this folder instead of building them.
    #[arg(long, env = "STACK_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,
}

/// One of the six services, for `--sigterm`.
fn service_name(arg: &str) -> Result<String, String> {
    stack::topology::names()
        .find(|name| *name == arg)
        .map(str::to_owned)
        .ok_or_else(|| {
            let names: Vec<_> = stack::topology::names().collect();
            format!("expected one of {}", names.join(", "))
        })
}

/// `KEY=VALUE`, for `--traced-env`.
fn key_value(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got {arg:?}"))
}

/// Requests each side gets before measuring: connections, caches and JIT-free warm paths.
pub(crate) fn warm_up(options: &Options) -> usize {
    4 * options.concurrency
}

/// Starts both sides, loads them, prints the comparison.
pub async fn run(options: Options) -> Result<(), String> {
    if options.concurrency == 0 || options.rounds == 0 || options.requests < options.rounds {
        return Err(
            "--concurrency and --rounds must be at least 1, --requests at least --rounds".into(),
        );
    }
    if let Some(rate) = options.rate
        && !(rate > 0.0 && rate * options.duration / options.rounds as f64 >= 1.0)
    {
        return Err(
            "--rate and --duration must be positive and make at least one request per round".into(),
        );
    }
    if !(0.0..=1.0).contains(&options.sample_ratio) {
        return Err("--sample-ratio must be between 0 and 1".into());
    }
    let release = !cfg!(debug_assertions);
    if !release && !options.json {
        eprintln!(
            "NOTE: a debug build measures debug binaries; run with --release for real figures."
        );
    }
    let binaries = match &options.bin_dir {
        Some(dir) => stack::binaries::find_in(dir)?,
        None => {
            tokio::task::spawn_blocking(move || {
                // With the load tool's own graph (it reaches the services through `stack`).
                stack::binaries::build(stack::binaries::Selection::ServicesFor("loadtest"), release)
            })
            .await
            .map_err(|e| e.to_string())??
        }
    };

    let sides = [
        Side::start(
            "untraced",
            &binaries,
            &[("OTEL_SDK_DISABLED".to_owned(), "true".to_owned())],
        )
        .await?,
        Side::start("traced", &binaries, &{
            let mut env = vec![(
                "OTEL_TRACES_SAMPLER_ARG".to_owned(),
                options.sample_ratio.to_string(),
            )];
            env.extend(options.traced_env.iter().cloned());
            env
        })
        .await?,
    ];
    let mut runs = Vec::new();
    for side in &sides {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(baggage) = &options.baggage {
            let value = reqwest::header::HeaderValue::from_str(baggage)
                .map_err(|e| format!("--baggage: {e}"))?;
            headers.insert("baggage", value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(options.concurrency)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let customers = workload::log_in(&http, &side.gateway, options.concurrency).await?;
        workload::run(
            &http,
            &side.gateway,
            &customers,
            options.requests,
            warm_up(&options),
        )
        .await;
        runs.push(Run {
            http,
            customers,
            samples: Vec::with_capacity(options.requests),
            busy: Duration::ZERO,
            cpu: Some(Duration::ZERO),
            restart: None,
        });
    }

    let per_round = options.requests.div_ceil(options.rounds);
    for round in 0..options.rounds {
        let first = round * per_round;
        let count = per_round.min(options.requests.saturating_sub(first));
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut line = format!("round {}/{}:", round + 1, options.rounds);
        for index in order {
            let (side, run) = (&sides[index], &mut runs[index]);
            let cpu_before = side.cpu_time();
            let started = Instant::now();
            let load = async {
                match options.rate {
                    None => {
                        workload::run(&run.http, &side.gateway, &run.customers, first, count).await
                    }
                    Some(rate) => {
                        let window =
                            Duration::from_secs_f64(options.duration / options.rounds as f64);
                        workload::run_open(
                            &run.http,
                            &side.gateway,
                            &run.customers,
                            first,
                            rate,
                            window,
                        )
                        .await
                    }
                }
            };
            let faulted = round == 0 && side.name == "traced";
            let outage = async {
                if faulted && options.receiver_outage > 0.0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let away = Duration::from_secs_f64(options.receiver_outage);
                    side.receiver_outage(away).await?;
                }
                Ok::<(), String>(())
            };
            let restart = async {
                match (&options.sigterm, faulted) {
                    (Some(service), true) => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        side.restart(service)
                            .await
                            .map(|r| Some((service.clone(), r)))
                    }
                    _ => Ok(None),
                }
            };
            let (samples, outage, restart) = tokio::join!(load, outage, restart);
            outage?;
            if let Some(restart) = restart? {
                run.restart = Some(restart);
            }
            let count = samples.len();
            let took = started.elapsed();
            run.busy += took;
            run.cpu = match (run.cpu, cpu_before, side.cpu_time(), &run.restart) {
                // A restarted process's CPU time starts again from zero.
                (_, _, _, Some(_)) => None,
                (Some(total), Some(before), Some(after), None) => {
                    Some(total + after.saturating_sub(before))
                }
                _ => None,
            };
            run.samples.extend(samples);
            line += &format!(
                " {} {count} requests in {:.2} s;",
                side.name,
                took.as_secs_f64()
            );
        }
        // Progress on stderr when stdout is for a table to paste.
        match (options.json, options.markdown) {
            (true, _) => {}
            (false, true) => eprintln!("{}", line.trim_end_matches(';')),
            (false, false) => println!("{}", line.trim_end_matches(';')),
        }
    }

    let memory: Vec<Option<side::Memory>> = sides.iter().map(Side::memory).collect();
    let mut figures = Vec::new();
    for ((side, run), memory) in sides.into_iter().zip(runs).zip(memory) {
        let name = side.name;
        let restart = run.restart.as_ref().map(|(s, r)| (s.as_str(), *r));
        let exported = side.stop(restart).await;
        figures.push(report::Figures::new(
            name,
            &run.samples,
            run.busy,
            run.cpu,
            memory,
            run.restart,
            exported,
        ));
    }
    let comparison = report::Comparison::new(&options, figures);
    if options.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&comparison).map_err(|e| e.to_string())?
        );
    } else if options.markdown {
        println!("{}", comparison.markdown());
    } else {
        println!("{comparison}");
    }
    Ok(())
}

/// What one side's load produced.
struct Run {
    http: reqwest::Client,
    customers: Vec<workload::Customer>,
    samples: Vec<Sample>,
    busy: Duration,
    cpu: Option<Duration>,
    /// `--sigterm`: which service, and when.
    restart: Option<(String, side::Restart)>,
}
