//! docs/configuration.md is generated from the services' own `Config` types — every variable
//! each binary reads, as its `--help` lists them — and this test fails when the two differ, so
//! the reference cannot drift from the code. `UPDATE_DOCS=1 cargo test --test
//! configuration_docs` writes it anew.

use clap::CommandFactory;
use std::collections::BTreeSet;

/// One variable as the reference shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Variable {
    name: String,
    flag: String,
    default: String,
    help: String,
}

/// The variables a binary reads, from its clap command, under the heading clap puts them in.
fn variables(command: &clap::Command) -> Vec<(String, Variable)> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|help| help.to_string())
                .unwrap_or_default();
            let default = match arg.is_hide_default_value_set() {
                true => "(not shown)".to_owned(),
                false => arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let heading = arg.get_help_heading().unwrap_or("Service").to_owned();
            Some((
                heading,
                Variable {
                    name,
                    flag: format!("--{}", arg.get_long()?),
                    default,
                    help: help.split_whitespace().collect::<Vec<_>>().join(" "),
                },
            ))
        })
        .collect()
}

fn table(rows: &[&Variable]) -> String {
    let mut out = String::from("| variable | flag | default | what it does |\n|---|---|---|---|\n");
    for v in rows {
        let default = match v.default.as_str() {
            "" => String::new(),
            default => format!("`{default}`"),
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            v.name,
            v.flag,
            default,
            v.help.replace('|', "\\|")
        ));
    }
    out
}

fn reference() -> String {
    let services: Vec<(&str, clap::Command)> = vec![
        ("gateway", gateway::Config::command()),
        ("user-service", user::Config::command()),
        ("auth-service", auth::Config::command()),
        ("order-service", order::Config::command()),
        ("inventory-service", inventory::Config::command()),
        ("payment-service", payment::Config::command()),
    ];
    for (_, command) in &services {
        // Duplicate flags or names panic here rather than at a user's start-up.
        command.clone().debug_assert();
    }
    let read: Vec<(&str, Vec<(String, Variable)>)> = services
        .iter()
        .map(|(name, command)| (*name, variables(command)))
        .collect();
    // What every service reads alike, shown once.
    let shared: BTreeSet<(String, Variable)> = read[0]
        .1
        .iter()
        .filter(|v| read.iter().all(|(_, vars)| vars.contains(v)))
        .cloned()
        .collect();
    let mut out = String::from(
        "# Configuration\n\n\
         Every service is configured by environment variables (or the flags beside them; \
         `<binary> --help` lists the same). This reference is generated from the services' \
         `Config` types by `tests/tests/configuration_docs.rs`, which fails when it is out of \
         date; `UPDATE_DOCS=1 cargo test --test configuration_docs` writes it anew. A value that \
         does not parse stops the service with a message naming the variable, except the \
         OpenTelemetry ones, which the specification asks to be reported and replaced by their \
         default. The OpenTelemetry exporter also reads the specification's other \
         `OTEL_EXPORTER_OTLP_*` variables itself (compression, TLS certificates, per-signal \
         headers).\n\n\
         ## Every service\n",
    );
    let headings: BTreeSet<&String> = shared.iter().map(|(heading, _)| heading).collect();
    for heading in headings {
        let rows: Vec<&Variable> = shared
            .iter()
            .filter(|(h, _)| h == heading)
            .map(|(_, v)| v)
            .collect();
        out.push_str(&format!("\n### {heading}\n\n{}", table(&rows)));
    }
    for (name, vars) in &read {
        let own: Vec<&Variable> = vars
            .iter()
            .filter(|v| !shared.contains(*v))
            .map(|(_, v)| v)
            .collect();
        out.push_str(&format!("\n## {name}\n\n{}", table(&own)));
    }
    // The strategies the remote sampler polls, as the repository ships them.
    let strategies = std::fs::read_to_string(e2e::workspace().join("sampling/strategies.json"))
        .expect("sampling/strategies.json");
    let sampler_arg = stack::remote_sampling_env("http://jaeger:5778");
    let compose = std::fs::read_to_string(e2e::workspace().join("docker-compose.yml")).unwrap();
    for (key, value) in &sampler_arg {
        assert_eq!(
            compose.matches(&format!("      {key}: {value}\n")).count(),
            6,
            "every service in docker-compose.yml samples as documented"
        );
    }
    out.push_str(&format!(
        "\n## Sampling strategies\n\n\
         Compose and the local stack run every service with\n\n\
         ```bash\n{}={}\n{}={}\n```\n\n\
         (the local stack with its own endpoint), which samples each trace's root by the rate \
         Jaeger's sampling endpoint serves for the service and operation, from \
         `sampling/strategies.json` — edited while the stack runs, it applies within seconds \
         ([sampling](sampling.md)):\n\n```json\n{}```\n",
        sampler_arg[0].0, sampler_arg[0].1, sampler_arg[1].0, sampler_arg[1].1, strategies
    ));
    out
}

#[test]
fn the_configuration_reference_is_what_the_services_read() {
    let path = e2e::workspace().join("docs/configuration.md");
    let generated = reference();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "{} is out of date: run `UPDATE_DOCS=1 cargo test --test configuration_docs`",
        path.display()
    );
}
