//! Static checks of the Docker deployment: `docker-compose.yml`, `.env`, the collector and Jaeger
//! configurations and the Dockerfile, checked as data — against the Compose specification's JSON
//! schema, against each other and the code, and through compose-go, the loader `docker compose`
//! uses (`tools/compose-check`, needs Go).

use e2e::{dotenv, workspace};
use serde_json::Value;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

fn read(file: &str) -> String {
    std::fs::read_to_string(workspace().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn yaml(file: &str) -> Value {
    serde_norway::from_str(&read(file)).unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"))
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

fn services(compose: &Value) -> &serde_json::Map<String, Value> {
    compose["services"].as_object().expect("services")
}

/// Resolves `${VAR:-default}` the way compose does, with `.env` as the environment.
fn interpolate(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let expr = &rest[start + 2..end];
        let (name, default) = expr.split_once(":-").unwrap_or((expr, ""));
        out.push_str(env.get(name).map_or(default, String::as_str));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn env_of(service: &Value) -> BTreeMap<&str, &str> {
    service["environment"]
        .as_object()
        .map(|env| {
            env.iter()
                .map(|(k, v)| (k.as_str(), v.as_str().expect("string env values")))
                .collect()
        })
        .unwrap_or_default()
}

/// The port of a `host:port` or `scheme://host:port[/...]`.
fn port_of(address: &str) -> u16 {
    let authority = address
        .split("://")
        .last()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address}"))
}

/// The `[[bin]]` names of the packages under `services/`, from `cargo metadata`.
fn service_binaries() -> BTreeSet<String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("cargo metadata");
    assert!(output.status.success());
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let services_dir = workspace().join("services");
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| Path::new(p["manifest_path"].as_str().unwrap()).starts_with(&services_dir))
        .flat_map(|p| p["targets"].as_array().unwrap().clone())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn compose_file_is_valid_against_the_compose_specification() {
    let schema: Value = serde_json::from_str(&read("tests/fixtures/compose-spec.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the compose schema compiles");
    let compose = compose();
    let errors: Vec<String> = validator
        .iter_errors(&compose)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "docker-compose.yml breaks the spec:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_service_binary_has_a_compose_service_built_with_its_service_arg() {
    let binaries = service_binaries();
    assert_eq!(binaries.len(), 6, "{binaries:?}");
    let compose = compose();
    for binary in &binaries {
        let service = &services(&compose)[binary.as_str()];
        assert_eq!(service["build"]["context"], ".", "{binary}");
        assert_eq!(
            service["build"]["args"]["SERVICE"],
            binary.as_str(),
            "{binary}"
        );
        assert_eq!(env_of(service)["OTEL_SERVICE_NAME"], binary, "{binary}");
        assert_eq!(env_of(service)["SERVICE_NAMESPACE"], "shop", "{binary}");
        assert!(env_of(service).contains_key("ENVIRONMENT"), "{binary}");
    }
}

#[test]
fn the_topology_table_is_composes_services_ports_and_url_variables() {
    let compose = compose();
    let services = services(&compose);
    for service in e2e::SERVICES {
        let env = env_of(&services[service.name]);
        assert_eq!(
            port_of(env["LISTEN_ADDR"]),
            service.port,
            "{}",
            service.name
        );
        let Some(var) = service.url_var else {
            continue;
        };
        for (caller, definition) in services {
            if let Some(url) = env_of(definition).get(var) {
                let host = url.split("://").nth(1).unwrap().split(':').next().unwrap();
                assert_eq!(host, service.name, "{caller}: {var}={url}");
            }
        }
    }
}

#[test]
fn downstream_urls_point_at_existing_services_and_the_ports_they_listen_on() {
    let compose = compose();
    let services = services(&compose);
    let mut checked = 0;
    for (name, service) in services {
        for (var, url) in env_of(service) {
            if !(var.ends_with("_SERVICE_URL") || var == "NATS_URL") {
                continue;
            }
            let host = url.split("://").nth(1).unwrap().split(':').next().unwrap();
            let target = services
                .get(host)
                .unwrap_or_else(|| panic!("{name}: {var}={url} names no service"));
            let expected = match env_of(target).get("LISTEN_ADDR") {
                Some(listen) => port_of(listen),
                None => 4222, // nats-server's client port
            };
            assert_eq!(port_of(url), expected, "{name}: {var}={url}");
            checked += 1;
        }
    }
    // Gateway 4, order 4 + NATS, inventory NATS, user 1.
    assert!(checked >= 11, "only {checked} URLs checked");
}

#[test]
fn every_service_exports_to_the_collector_and_the_collector_listens_there() {
    let compose = compose();
    for binary in service_binaries() {
        let env = env_of(&services(&compose)[binary.as_str()]);
        assert_eq!(
            env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://otel-collector:4318",
            "{binary}"
        );
    }
    for file in [
        "otel-collector.yaml",
        "otel-collector.tail-sampling.yaml",
        "jaeger.yaml",
    ] {
        let config = yaml(file);
        let protocols = &config["receivers"]["otlp"]["protocols"];
        assert_eq!(protocols["http"]["endpoint"], "0.0.0.0:4318", "{file}");
        assert_eq!(protocols["grpc"]["endpoint"], "0.0.0.0:4317", "{file}");
    }
    for file in ["otel-collector.yaml", "otel-collector.tail-sampling.yaml"] {
        let exporter = &yaml(file)["exporters"]["otlp_grpc/jaeger"];
        assert_eq!(exporter["endpoint"], "jaeger:4317", "{file}");
        assert_eq!(exporter["tls"]["insecure"], true, "{file}");
    }
    // The collector's config file is the one compose mounts, selectable through .env.
    let collector = &services(&compose)["otel-collector"];
    let mount = interpolate(collector["volumes"][0].as_str().unwrap(), &dotenv());
    let source = mount.split(':').next().unwrap();
    assert!(workspace().join(source).is_file(), "{source}");
    assert!(mount.ends_with(":/etc/otelcol-contrib/config.yaml:ro"));
}

#[test]
fn health_checks_and_depends_on_conditions_give_an_acyclic_start_order() {
    let compose = compose();
    let services = services(&compose);
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for binary in service_binaries() {
        let test = &services[binary.as_str()]["healthcheck"]["test"];
        assert_eq!(
            test,
            &serde_json::json!(["CMD", "/usr/local/bin/healthcheck"]),
            "{binary}"
        );
    }
    assert!(services["nats"]["healthcheck"]["test"][1] == "wget");
    // Jaeger's healthcheckv2 extension, probed with the image's busybox wget; the collector
    // image has no shell or wget, so it has no healthcheck and is waited for as started.
    let jaeger_test = &services["jaeger"]["healthcheck"]["test"];
    assert!(
        jaeger_test[1] == "wget" && jaeger_test[5] == "http://127.0.0.1:13133/status",
        "{jaeger_test}"
    );
    assert_eq!(
        services["otel-collector"]["depends_on"]["jaeger"]["condition"],
        "service_healthy"
    );
    assert!(services["otel-collector"].get("healthcheck").is_none());
    for (name, service) in services {
        let deps = service["depends_on"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (dep, spec) in &deps {
            let target = services
                .get(dep)
                .unwrap_or_else(|| panic!("{name} depends on unknown {dep}"));
            match spec["condition"].as_str() {
                Some("service_healthy") => {
                    assert!(
                        target.get("healthcheck").is_some(),
                        "{name} waits for {dep}, which has no healthcheck"
                    )
                }
                Some("service_started") => {}
                // A one-shot step (the identities), run to its end before its dependents start.
                Some("service_completed_successfully") => {
                    assert_eq!(target["restart"], "no", "{name} waits for one-shot {dep}")
                }
                other => panic!("{name} → {dep}: condition {other:?}"),
            }
        }
        graph.insert(
            name,
            deps.keys()
                .map(|k| services.get_key_value(k).unwrap().0.as_str())
                .collect(),
        );
    }
    // Kahn's algorithm: everything can start iff there is no cycle.
    let mut started: BTreeSet<&str> = BTreeSet::new();
    while started.len() < graph.len() {
        let ready: Vec<&str> = graph
            .iter()
            .filter(|(name, deps)| {
                !started.contains(*name) && deps.iter().all(|d| started.contains(d))
            })
            .map(|(name, _)| *name)
            .collect();
        assert!(
            !ready.is_empty(),
            "depends_on has a cycle among {:?}",
            graph
                .keys()
                .filter(|n| !started.contains(*n))
                .collect::<Vec<_>>()
        );
        started.extend(ready);
    }
    // The order the stack needs: the broker before its users, the gateway after the rest.
    for dep in [
        "auth-service",
        "user-service",
        "order-service",
        "inventory-service",
    ] {
        assert!(graph["gateway"].contains(&dep));
    }
    assert!(
        graph["order-service"].contains(&"nats") && graph["inventory-service"].contains(&"nats")
    );
}

#[test]
fn stateful_services_keep_their_database_on_a_named_volume() {
    let compose = compose();
    let declared: BTreeSet<&String> = compose["volumes"].as_object().unwrap().keys().collect();
    for (name, service) in services(&compose) {
        let Some(url) = env_of(service).get("DATABASE_URL").copied() else {
            continue;
        };
        let path = url.strip_prefix("sqlite:").expect("a sqlite URL");
        let mounts: Vec<&str> = service["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let covered = mounts.iter().any(|m| {
            let (volume, target) = m.split_once(':').unwrap();
            declared.contains(&volume.to_owned()) && path.starts_with(&format!("{target}/"))
        });
        assert!(
            covered,
            "{name}: {path} is not on a named volume ({mounts:?})"
        );
    }
}

#[test]
fn only_the_gateway_and_the_jaeger_ui_are_published() {
    let compose = compose();
    let published: BTreeMap<&str, Vec<&str>> = services(&compose)
        .iter()
        .filter_map(|(name, s)| {
            s["ports"].as_array().map(|p| {
                (
                    name.as_str(),
                    p.iter().map(|v| v.as_str().unwrap()).collect(),
                )
            })
        })
        .collect();
    let expected = BTreeMap::from([
        ("gateway", vec!["8080:8080"]),
        ("jaeger", vec!["16686:16686"]),
    ]);
    assert_eq!(published, expected);
}

#[test]
fn pulled_images_are_pinned_and_jaeger_is_v2() {
    let compose = compose();
    let env = dotenv();
    for var in [
        "JAEGER_VERSION",
        "OTELCOL_VERSION",
        "NATS_VERSION",
        "PROMETHEUS_VERSION",
    ] {
        assert!(env.contains_key(var), ".env lacks {var}");
    }
    for (name, service) in services(&compose) {
        if service.get("build").is_some() {
            continue;
        }
        let raw = service["image"].as_str().unwrap();
        if service["pull_policy"] == "never" {
            // Never pulled: an image another service of the file builds.
            let built = services(&compose)
                .values()
                .any(|other| other.get("build").is_some() && other["image"] == raw);
            assert!(built, "{name}: {raw} is neither pulled nor built here");
            continue;
        }
        let image = interpolate(raw, &env);
        let (_, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name}: {image} has no tag"));
        // Prometheus tags its releases `v3.16.0`.
        let version = tag.strip_prefix('v').unwrap_or(tag);
        assert!(
            tag != "latest" && version.chars().next().unwrap().is_ascii_digit(),
            "{name}: {image}"
        );
        // The fallback written in the compose file agrees with .env.
        let fallback = interpolate(raw, &BTreeMap::new());
        assert_eq!(fallback, image, "{name}: compose default and .env disagree");
    }
    let jaeger = interpolate(
        services(&compose)["jaeger"]["image"].as_str().unwrap(),
        &env,
    );
    assert!(jaeger.starts_with("jaegertracing/jaeger:2."), "{jaeger}");
    let text = read("docker-compose.yml");
    assert!(
        !text.contains("all-in-one") && !text.contains("COLLECTOR_OTLP_ENABLED"),
        "retired Jaeger v1 settings"
    );
}

/// The `type[/name]` ids of a collector section.
fn component_ids(config: &Value, section: &str) -> BTreeSet<String> {
    config[section]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn collector_pipelines_use_exactly_the_components_they_define_and_no_retired_ones() {
    for file in [
        "otel-collector.yaml",
        "otel-collector.tail-sampling.yaml",
        "jaeger.yaml",
    ] {
        let config = yaml(file);
        let service = &config["service"];
        let mut used: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for pipeline in service["pipelines"]
            .as_object()
            .expect("pipelines")
            .values()
        {
            for section in ["receivers", "processors", "exporters"] {
                used.entry(section)
                    .or_default()
                    .extend(names(&pipeline[section]));
            }
        }
        used.insert("extensions", names(&service["extensions"]));
        // A connector (spanmetrics) is the exporter of one pipeline and the receiver of another.
        for connector in component_ids(&config, "connectors") {
            for section in ["receivers", "exporters"] {
                let ids = used.entry(section).or_default();
                assert!(
                    ids.remove(&connector),
                    "{file}: connector {connector} is in no pipeline's {section}"
                );
            }
        }
        for (section, ids) in &used {
            assert_eq!(
                ids,
                &component_ids(&config, section),
                "{file}: {section} defined vs used"
            );
        }
        let retired = ["jaeger", "logging", "otlp", "otlphttp", "jaeger_thrift"];
        for id in component_ids(&config, "exporters") {
            let kind = id.split('/').next().unwrap();
            assert!(
                !retired.contains(&kind),
                "{file}: exporter {id} is retired or deprecated in the pinned version"
            );
        }
    }
    // Batching in the exporter's sending queue, the form the pinned collector recommends; the
    // batch processor beside it would batch twice.
    for file in ["otel-collector.yaml", "otel-collector.tail-sampling.yaml"] {
        let config = yaml(file);
        let batch = &config["exporters"]["otlp_grpc/jaeger"]["sending_queue"]["batch"];
        assert!(batch.is_object(), "{file}: the Jaeger exporter batches");
        assert!(
            !component_ids(&config, "processors")
                .iter()
                .any(|id| id.split('/').next() == Some("batch")),
            "{file}: batch processor beside exporter batching"
        );
    }
    let collector = yaml("otel-collector.yaml");
    assert!(collector["service"]["pipelines"]["traces"].is_object());
    assert_eq!(collector["exporters"]["debug"]["verbosity"], "basic");
    assert_eq!(
        collector["extensions"]["health_check"]["endpoint"],
        "0.0.0.0:13133"
    );
    // memory_limiter must come first in the pipeline.
    assert_eq!(
        collector["service"]["pipelines"]["traces"]["processors"][0],
        "memory_limiter"
    );
}

#[test]
fn the_collector_deletes_attributes_that_could_carry_secrets() {
    for file in ["otel-collector.yaml", "otel-collector.tail-sampling.yaml"] {
        let config = yaml(file);
        let actions = config["processors"]["attributes/scrub-secrets"]["actions"]
            .as_array()
            .unwrap();
        let deleted: BTreeSet<&str> = actions
            .iter()
            .filter(|a| a["action"] == "delete")
            .filter_map(|a| a["key"].as_str())
            .collect();
        for key in [
            "http.request.header.authorization",
            "card_number",
            "password",
            "token",
        ] {
            assert!(deleted.contains(key), "{file} keeps {key}");
        }
        let pattern = actions
            .iter()
            .find_map(|a| a["pattern"].as_str())
            .expect("a pattern rule");
        assert!(
            pattern.contains("authorization") && pattern.contains("card"),
            "{file}"
        );
    }
}

#[test]
fn tail_sampling_keeps_errors_slow_traces_and_ten_percent() {
    let config = yaml("otel-collector.tail-sampling.yaml");
    let policies = config["processors"]["tail_sampling"]["policies"]
        .as_array()
        .unwrap();
    let by_type: BTreeMap<&str, &Value> = policies
        .iter()
        .map(|p| (p["type"].as_str().unwrap(), p))
        .collect();
    assert_eq!(
        by_type["status_code"]["status_code"]["status_codes"],
        serde_json::json!(["ERROR"])
    );
    assert_eq!(by_type["latency"]["latency"]["threshold_ms"], 500);
    assert_eq!(
        by_type["probabilistic"]["probabilistic"]["sampling_percentage"],
        10
    );
    let processors = names(&config["service"]["pipelines"]["traces"]["processors"]);
    assert!(processors.contains("tail_sampling"));
    assert_eq!(
        dotenv()["OTELCOL_CONFIG"],
        "otel-collector.yaml",
        "tail sampling is opt-in"
    );
}

#[test]
fn jaeger_keeps_traces_in_capped_memory() {
    let config = yaml("jaeger.yaml");
    let backend = &config["extensions"]["jaeger_query"]["storage"]["traces"];
    let store = &config["extensions"]["jaeger_storage"]["backends"][backend.as_str().unwrap()];
    assert!(
        store["memory"]["max_traces"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(
        config["exporters"]["jaeger_storage_exporter"]["trace_storage"],
        *backend
    );
}

#[test]
fn dockerfile_builds_every_service_once_and_picks_one_per_build_arg() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let stages: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(
        stages.len(),
        5,
        "chef, planner, builder, service, runtime: {stages:?}"
    );
    let stage_names: Vec<&str> = stages
        .iter()
        .filter_map(|s| s.split_whitespace().nth(3))
        .collect();
    for stage in &stages {
        let image = stage.split_whitespace().nth(1).unwrap();
        if stage_names.contains(&image) {
            continue; // an earlier stage, not an image
        }
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "unpinned base image {image}"
        );
    }
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle}"))
    };
    // Dependencies are cooked from the recipe before the sources are copied in.
    assert!(position("cargo chef prepare") < position("cargo chef cook"));
    let builder = position("AS builder");
    let cook = position("cargo chef cook");
    let sources = builder
        + lines[builder..]
            .iter()
            .position(|l| *l == "COPY . .")
            .unwrap();
    assert!(
        cook < sources,
        "the dependency layer must not depend on the sources"
    );
    // One build of every service, before SERVICE is declared: all six images share the cooked
    // dependencies and that build.
    let build = position("cargo build --release --locked");
    assert!(build > sources && position("ARG SERVICE") > build);
    let build_step: String = lines[build..]
        .iter()
        .take_while(|l| !l.starts_with("FROM "))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    for binary in e2e::SERVICES.iter().map(|s| s.name).chain(["healthcheck"]) {
        assert!(
            build_step.contains(&format!("--bin {binary} ")),
            "{binary} is not in the one build: {build_step}"
        );
    }
    let runtime = &lines[position("AS runtime")..];
    assert!(runtime[0].contains("distroless"), "{}", runtime[0]);
    assert!(runtime.contains(&"USER nonroot"));
    assert!(runtime.iter().any(|l| l.starts_with("HEALTHCHECK")));
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("CMD [\"/usr/local/bin/healthcheck\"]"))
    );
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/service\"]"))
    );

    // EXPOSE covers the port every service listens on.
    let exposed = runtime
        .iter()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("EXPOSE in the runtime stage");
    let (low, high) = exposed.split_once('-').unwrap_or((exposed, exposed));
    let exposed = low.parse::<u16>().unwrap()..=high.parse::<u16>().unwrap();
    let compose = compose();
    for binary in service_binaries() {
        let port = port_of(env_of(&services(&compose)[binary.as_str()])["LISTEN_ADDR"]);
        assert!(exposed.contains(&port), "{binary}: {port} not in EXPOSE");
    }

    let ignored: BTreeSet<&str> = read(".dockerignore").leak().lines().collect();
    for entry in ["target/", ".git/", "*.db", "**/*.db", ".nats/", ".stack/"] {
        assert!(ignored.contains(entry), ".dockerignore lacks {entry}");
    }
}

/// `tools/compose-check`, built once per run into cargo's scratch directory, with Go's default
/// module and build caches.
fn compose_check_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let go = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join("go"))
            .find(|go| go.is_file())
            .expect(
                "Go is required: tools/compose-check loads docker-compose.yml with compose-go, \
                 the loader docker compose uses. Install Go 1.24 or newer and put `go` on PATH",
            );
        let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compose-check");
        let output = Command::new(go)
            .current_dir(workspace().join("tools/compose-check"))
            .args(["build", "-buildvcs=false", "-o"])
            .arg(&binary)
            .arg(".")
            .output()
            .expect("go build");
        assert!(
            output.status.success(),
            "go build of tools/compose-check failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        binary
    })
}

/// Runs compose-check on a project directory. `NOT_DEFINED_ANYWHERE` is set in its environment:
/// a variable the shell happens to set must not hide one that `.env` lacks.
fn compose_check(dir: &Path) -> Output {
    Command::new(compose_check_binary())
        .arg(dir)
        .env("NOT_DEFINED_ANYWHERE", "set in the shell, not in .env")
        .output()
        .expect("run compose-check")
}

#[test]
fn compose_file_loads_with_the_compose_go_loader() {
    let output = compose_check(workspace());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "compose-check failed:\n{stdout}{stderr}"
    );
    // compose-go logs its warnings (obsolete attributes and the like) on stderr.
    assert!(stderr.is_empty(), "compose-go warned:\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"ok"), "{stdout}");
    let listed: BTreeSet<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let compose = compose();
    let declared: BTreeSet<&str> = services(&compose).keys().map(String::as_str).collect();
    assert_eq!(listed, declared, "{stdout}");
    // What compose-go resolved agrees with .env and the conditions read above.
    let line = |name: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
    };
    // Like docker compose, the shell's environment wins over .env.
    let jaeger_version =
        std::env::var("JAEGER_VERSION").unwrap_or_else(|_| dotenv()["JAEGER_VERSION"].clone());
    assert!(
        line("jaeger").contains(&format!("image=jaegertracing/jaeger:{jaeger_version} ")),
        "{stdout}"
    );
    assert!(
        line("otel-collector").contains("jaeger:service_healthy"),
        "{stdout}"
    );
}

#[test]
fn compose_check_fails_on_undefined_variables_unknown_services_and_wrong_types() {
    let original = read("docker-compose.yml");
    let check = |compose: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        std::fs::copy(workspace().join(".env"), dir.path().join(".env")).unwrap();
        compose_check(dir.path())
    };
    // The copy as it is passes: each failure below is its breakage's.
    let control = check(&original);
    assert!(
        control.status.success(),
        "{}",
        String::from_utf8_lossy(&control.stderr)
    );
    // (what, from, to, the message must name)
    let breakages = [
        (
            "a variable neither .env nor a default defines",
            "      RUST_LOG: info\n",
            "      RUST_LOG: ${NOT_DEFINED_ANYWHERE}\n",
            "NOT_DEFINED_ANYWHERE",
        ),
        (
            "depends_on naming no service",
            "    depends_on:\n      jaeger:\n",
            "    depends_on:\n      tempo:\n",
            "depends on undefined service \"tempo\"",
        ),
        (
            "a dependency cycle",
            "      otel-collector:\n        condition: service_started\n    restart: unless-stopped\n\n  order-service:",
            "      gateway:\n        condition: service_started\n    restart: unless-stopped\n\n  order-service:",
            "dependency cycle",
        ),
        (
            "a string for an integer",
            "      retries: 6\n",
            "      retries: many\n",
            "healthcheck.retries",
        ),
        (
            "a number for a list",
            "    ports:\n      - \"8080:8080\"\n",
            "    ports: 8080\n",
            "services.gateway.ports must be a array",
        ),
        (
            "waiting for health of a service without a healthcheck",
            "      otel-collector:\n        condition: service_started\n",
            "      otel-collector:\n        condition: service_healthy\n",
            "\"otel-collector\" has no healthcheck",
        ),
    ];
    for (what, from, to, message) in breakages {
        assert!(original.contains(from), "{what}: no {from:?} to break");
        let output = check(&original.replacen(from, to, 1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{what}: not rejected");
        assert!(stderr.contains(message), "{what}: {stderr}");
    }
}
