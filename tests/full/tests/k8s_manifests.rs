//! The Kubernetes manifests (`deploy/k8s`), checked offline with the real tools: each overlay
//! built by kustomize (built from the Go module proxy with the other backends), every object
//! strictly validated against the Kubernetes JSON schemas (`kubernetes-validate`, PyPI), every
//! Collector and Jaeger configuration in a ConfigMap through the real `otelcol validate` and
//! `jaeger validate`, NATS's through `nats-server -t`; and what the manifests promise — locked-down
//! workloads, one open door, the tiers scaled out in prod — read from the built objects.

use e2e::workspace;
use serde_json::Value;
use stack::backends;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

const OVERLAYS: [&str; 2] = ["dev", "prod"];

fn backend(name: &str) -> PathBuf {
    backends::binary(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `program` with `args`: (success, stdout, stderr).
fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `kustomize build` of an overlay: its YAML and its objects.
fn built(overlay: &str) -> &'static (String, Vec<Value>) {
    static BUILT: OnceLock<Vec<(String, Vec<Value>)>> = OnceLock::new();
    let all = BUILT.get_or_init(|| {
        // The services' key pairs, which a deployment makes and never commits
        // (docs/service-identity.md); kept when already there.
        stack::issue_identities(&workspace().join("deploy/k8s/base"))
            .unwrap_or_else(|e| panic!("issuing identities: {e}"));
        OVERLAYS
            .iter()
            .map(|overlay| {
                let dir = format!("deploy/k8s/overlays/{overlay}");
                let (ok, yaml, stderr) = run(&backend("kustomize"), &["build", &dir], &[]);
                assert!(ok, "kustomize build {dir}:\n{stderr}");
                let objects = serde_norway::Deserializer::from_str(&yaml)
                    .map(|document| {
                        serde::Deserialize::deserialize(document)
                            .unwrap_or_else(|e| panic!("{dir}: {e}"))
                    })
                    .filter(|object: &Value| !object.is_null())
                    .collect();
                (yaml, objects)
            })
            .collect()
    });
    &all[OVERLAYS.iter().position(|o| *o == overlay).unwrap()]
}

fn objects(overlay: &str) -> &'static [Value] {
    &built(overlay).1
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Deployments, StatefulSets and DaemonSets.
fn workloads(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| {
            ["Deployment", "StatefulSet", "DaemonSet"].contains(&o["kind"].as_str().unwrap())
        })
        .collect()
}

fn containers(workload: &Value) -> &Vec<Value> {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// Every configuration file held in a ConfigMap: (ConfigMap, key, content).
fn config_files(objects: &[Value]) -> Vec<(String, String, String)> {
    of_kind(objects, "ConfigMap")
        .into_iter()
        .flat_map(|map| {
            let name = map["metadata"]["name"].as_str().unwrap().to_owned();
            map["data"]
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(key, value)| {
                    (
                        name.clone(),
                        key.clone(),
                        value.as_str().unwrap().to_owned(),
                    )
                })
        })
        .collect()
}

/// The YAML document in a ConfigMap's `key`.
fn config_yaml(objects: &[Value], key: &str) -> Value {
    let (_, _, text) = config_files(objects)
        .into_iter()
        .find(|(_, k, _)| k == key)
        .unwrap_or_else(|| panic!("no ConfigMap holds {key}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{key}: {e}"))
}

#[test]
fn every_object_of_every_overlay_passes_strict_kubernetes_schema_validation() {
    let validate = stack::find_on_path("kubernetes-validate")
        .expect("kubernetes-validate on PATH: pip install kubernetes-validate (.ci/run does)");
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let (yaml, objects) = built(overlay);
        assert!(objects.len() > 20, "{overlay}: {} objects", objects.len());
        let file = dir.path().join(format!("{overlay}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let (ok, stdout, stderr) = run(&validate, &["--strict", file.to_str().unwrap()], &[]);
        assert!(
            ok,
            "kubernetes-validate --strict ({overlay}):\n{stdout}{stderr}"
        );
        // It names each object it checked: none skipped as an unknown kind.
        assert!(!stdout.contains("skipping"), "{overlay}:\n{stdout}");
    }
    // And a wrong field is caught, so the pass above means something.
    let broken = built("prod")
        .0
        .replacen("readinessProbe:", "readinesProbe:", 1);
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, broken).unwrap();
    let (ok, stdout, stderr) = run(&validate, &["--strict", file.to_str().unwrap()], &[]);
    assert!(!ok, "a misspelt field passed:\n{stdout}{stderr}");
}

#[test]
fn every_collector_jaeger_and_nats_config_in_a_config_map_passes_the_real_validators() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let mut checked = BTreeSet::new();
        for (map, key, text) in config_files(objects(overlay)) {
            let file = dir.path().join(format!("{overlay}-{map}-{key}"));
            std::fs::write(&file, &text).unwrap();
            let path = file.to_str().unwrap();
            let (program, args, env): (&str, Vec<&str>, &[(&str, &str)]) = if key == "nats.conf" {
                (
                    "nats-server",
                    vec!["-t", "-c", path],
                    &[("POD_NAME", "nats-0")],
                )
            } else if key.starts_with("jaeger") {
                ("jaeger", vec!["validate", "--config", path], &[])
            } else if key.starts_with("collector") {
                ("otelcol", vec!["validate", "--config", path], &[])
            } else {
                continue;
            };
            let (ok, stdout, stderr) = run(&backend(program), &args, env);
            assert!(
                ok,
                "{overlay}: {program} refuses ConfigMap {map} key {key}:\n{stdout}{stderr}\n{text}"
            );
            checked.insert(key);
        }
        for key in [
            "collector-agent.yaml",
            "collector-gateway.yaml",
            "nats.conf",
        ] {
            assert!(
                checked.contains(key),
                "{overlay}: {key} not checked: {checked:?}"
            );
        }
        assert!(
            checked.iter().any(|k| k.starts_with("jaeger")),
            "{overlay}: no Jaeger config: {checked:?}"
        );
    }
}

#[test]
fn every_workload_is_locked_down_probed_bounded_and_covered_by_a_disruption_budget() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let budgets = of_kind(objects, "PodDisruptionBudget");
        for workload in workloads(objects) {
            let name = workload["metadata"]["name"].as_str().unwrap();
            let pod = &workload["spec"]["template"]["spec"];
            let labels = &workload["spec"]["template"]["metadata"]["labels"];
            for container in containers(workload) {
                let what = format!("{overlay} {name}/{}", container["name"]);
                let security = &container["securityContext"];
                let non_root = security["runAsNonRoot"] == true
                    || pod["securityContext"]["runAsNonRoot"] == true;
                assert!(non_root, "{what}: may run as root");
                assert_eq!(security["readOnlyRootFilesystem"], true, "{what}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{what}");
                assert_eq!(security["capabilities"]["drop"][0], "ALL", "{what}");
                for probe in ["readinessProbe", "livenessProbe"] {
                    assert!(container[probe].is_object(), "{what}: no {probe}");
                }
                for bound in ["requests", "limits"] {
                    let resources = &container["resources"][bound];
                    assert!(
                        resources["cpu"].is_string() || resources["cpu"].is_number(),
                        "{what}: no cpu {bound}"
                    );
                    assert!(resources["memory"].is_string(), "{what}: no memory {bound}");
                }
            }
            // A PodDisruptionBudget selects this workload's pods.
            let covered = budgets.iter().any(|budget| {
                budget["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|wanted| wanted.iter().all(|(k, v)| &labels[k] == v))
            });
            assert!(covered, "{overlay} {name}: no PodDisruptionBudget");
        }
    }
}

#[test]
fn the_services_run_as_the_contract_says_with_the_secret_from_a_secret() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        // The six services, by the names and ports of the contract (stack's topology table).
        for topology in e2e::SERVICES {
            let (service, port) = (topology.name, topology.port);
            let kind = if service == "gateway" {
                "Deployment"
            } else {
                // SQLite: one writer per file, so one replica with its own volume.
                "StatefulSet"
            };
            let workload = named(objects, kind, service);
            let container = &containers(workload)[0];
            assert_eq!(
                container["ports"][0]["containerPort"], port,
                "{overlay} {service}"
            );
            assert_eq!(
                container["readinessProbe"]["httpGet"]["path"], "/healthz",
                "{overlay} {service}"
            );
            assert_eq!(
                env(container, "OTEL_SERVICE_NAME").map(|e| &e["value"]),
                Some(&Value::from(service)),
                "{overlay} {service}"
            );
            if kind == "StatefulSet" {
                assert_eq!(workload["spec"]["replicas"], 1, "{overlay} {service}");
                assert!(
                    workload["spec"]["volumeClaimTemplates"][0].is_object(),
                    "{overlay} {service}: no volume for its database"
                );
            }
            named(objects, "Service", service);

            // Its identity: its own private key alone, and every service's public key.
            assert_eq!(
                env(container, "SERVICE_IDENTITY_DIR").map(|e| &e["value"]),
                Some(&Value::from("/identities")),
                "{overlay} {service}"
            );
            let volumes = workload["spec"]["template"]["spec"]["volumes"]
                .as_array()
                .expect("volumes");
            let identity = volumes
                .iter()
                .find(|volume| volume["name"] == "identity")
                .unwrap_or_else(|| panic!("{overlay} {service}: no identity volume"));
            let sources = &identity["projected"]["sources"];
            let secret_name = sources[0]["secret"]["name"].as_str().expect("a Secret");
            let secret = named(objects, "Secret", secret_name);
            let keys: Vec<&String> = secret["data"].as_object().expect("data").keys().collect();
            assert_eq!(keys, [&format!("{service}.key")], "{overlay} {service}");
            let public_name = sources[1]["configMap"]["name"]
                .as_str()
                .expect("a ConfigMap");
            let public = named(objects, "ConfigMap", public_name)["data"]
                .as_object()
                .expect("data");
            let public: BTreeSet<&str> = public.keys().map(String::as_str).collect();
            let expected: BTreeSet<String> = e2e::SERVICES
                .iter()
                .map(|s| format!("{}.pub", s.name))
                .collect();
            assert_eq!(
                public,
                expected.iter().map(String::as_str).collect(),
                "{overlay} {service}"
            );
        }
        // The JWT secret is read from a Secret, never written into the manifest.
        let auth = &containers(named(objects, "StatefulSet", "auth-service"))[0];
        let secret =
            &env(auth, "AUTH_JWT_SECRET").expect("AUTH_JWT_SECRET")["valueFrom"]["secretKeyRef"];
        let secret_name = secret["name"].as_str().expect("from a Secret");
        named(objects, "Secret", secret_name);
    }
}

#[test]
fn only_the_gateway_is_open_to_the_outside() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let policies = of_kind(objects, "NetworkPolicy");
        // A default deny: every pod, ingress, no rule.
        assert!(
            policies.iter().any(|p| {
                p["spec"]["podSelector"]
                    .as_object()
                    .is_some_and(|s| s.is_empty())
                    && p["spec"]["policyTypes"]
                        .as_array()
                        .is_some_and(|t| t.contains(&Value::from("Ingress")))
                    && p["spec"]["ingress"]
                        .as_array()
                        .is_none_or(|rules| rules.is_empty())
            }),
            "{overlay}: no default-deny policy"
        );
        // A rule without `from` admits everyone: only the gateway's pods may have one.
        for policy in policies {
            let open = policy["spec"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| rule["from"].as_array().is_none_or(|from| from.is_empty()));
            if open {
                let selected = &policy["spec"]["podSelector"]["matchLabels"];
                assert_eq!(
                    selected["app.kubernetes.io/name"], "gateway",
                    "{overlay}: {} opens other pods to everyone",
                    policy["metadata"]["name"]
                );
            }
        }
        // No Service but the gateway's is exposed outside the cluster.
        for service in of_kind(objects, "Service") {
            let kind = service["spec"]["type"].as_str().unwrap_or("ClusterIP");
            if kind != "ClusterIP" {
                assert_eq!(service["metadata"]["name"], "gateway", "{overlay}");
            }
        }
    }
}

/// The project's tail-sampling policies, as the compose deployment runs them.
fn compose_tail_sampling() -> Value {
    let text =
        std::fs::read_to_string(workspace().join("otel-collector.tail-sampling.yaml")).unwrap();
    let config: Value = serde_norway::from_str(&text).unwrap();
    config["processors"]["tail_sampling"]["policies"].clone()
}

#[test]
fn the_collector_tiers_route_by_trace_id_to_tail_sampling_gateways() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let agent = config_yaml(objects, "collector-agent.yaml");
        let exporters = agent["exporters"].as_object().unwrap();
        let (name, balancer) = exporters
            .iter()
            .find(|(name, _)| name.split('/').next() == Some("load_balancing"))
            .unwrap_or_else(|| panic!("{overlay}: the agent has no load_balancing exporter"));
        assert_eq!(balancer["routing_key"], "traceID", "{overlay}");
        // The k8s resolver watches a headless Service that exists and selects the gateway tier.
        let watched = balancer["resolver"]["k8s"]["service"]
            .as_str()
            .unwrap_or_else(|| panic!("{overlay}: {name} has no k8s resolver"));
        let service = named(objects, "Service", watched.split('.').next().unwrap());
        assert_eq!(
            service["spec"]["clusterIP"], "None",
            "{overlay}: not headless"
        );
        let tier = workloads(objects)
            .into_iter()
            .find(|w| {
                let labels = &w["spec"]["template"]["metadata"]["labels"];
                service["spec"]["selector"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &labels[k] == v)
            })
            .unwrap_or_else(|| panic!("{overlay}: {watched} selects no workload"));
        // The agent may list the endpoints it resolves.
        let role = of_kind(objects, "Role")
            .into_iter()
            .find(|role| {
                role["rules"].as_array().unwrap().iter().any(|rule| {
                    rule["resources"].as_array().is_some_and(|r| {
                        r.iter().any(|r| r == "endpointslices" || r == "endpoints")
                    })
                })
            })
            .unwrap_or_else(|| panic!("{overlay}: no Role for the k8s resolver"));
        assert!(
            of_kind(objects, "RoleBinding")
                .iter()
                .any(|b| b["roleRef"]["name"] == role["metadata"]["name"]),
            "{overlay}"
        );

        // The gateway tier samples with the project's policies.
        let gateway = config_yaml(objects, "collector-gateway.yaml");
        assert_eq!(
            gateway["processors"]["tail_sampling"]["policies"],
            compose_tail_sampling(),
            "{overlay}: the gateway tier's policies differ from otel-collector.tail-sampling.yaml"
        );
        let replicas = tier["spec"]["replicas"].as_u64().unwrap_or(1);
        if overlay == "prod" {
            assert!(replicas >= 3, "prod: {replicas} tail-sampling gateways");
        }
    }
}

#[test]
fn prod_scales_out_and_keeps_traces_and_events_through_a_lost_node() {
    let dev = objects("dev");
    let objects = objects("prod");
    // The gateway: more than one replica, or an autoscaler.
    let gateway = named(objects, "Deployment", "gateway");
    let replicas = gateway["spec"]["replicas"].as_u64().unwrap_or(1);
    let autoscaled = of_kind(objects, "HorizontalPodAutoscaler").iter().any(|h| {
        h["spec"]["scaleTargetRef"]["name"] == "gateway"
            && h["spec"]["minReplicas"].as_u64() >= Some(2)
    });
    assert!(
        replicas >= 2 || autoscaled,
        "prod gateway: {replicas} replica(s)"
    );

    // NATS: three servers in one JetStream cluster, the ORDERS stream kept on all three.
    let nats = named(objects, "StatefulSet", "nats");
    assert_eq!(nats["spec"]["replicas"], 3);
    let conf = config_files(objects)
        .into_iter()
        .find(|(_, key, _)| key == "nats.conf")
        .unwrap()
        .2;
    assert!(conf.contains("jetstream"), "{conf}");
    for node in 0..3 {
        assert!(
            conf.contains(&format!("nats-{node}.")),
            "no route to nats-{node}:\n{conf}"
        );
    }
    let order = &containers(named(objects, "StatefulSet", "order-service"))[0];
    assert_eq!(env(order, "STREAM_REPLICAS").unwrap()["value"], "3");

    // Jaeger on a durable store (OpenSearch), as separate collector and query roles.
    let storage: Vec<Value> = config_files(objects)
        .into_iter()
        .filter(|(_, key, _)| key.starts_with("jaeger"))
        .map(|(_, key, text)| {
            let config: Value = serde_norway::from_str(&text).unwrap();
            let backends = config["extensions"]["jaeger_storage"]["backends"].clone();
            assert!(backends.is_object(), "{key}: no jaeger_storage backends");
            backends
        })
        .collect();
    assert!(
        storage.len() >= 2,
        "collector and query configs: {storage:?}"
    );
    for backends in &storage {
        assert!(
            backends
                .as_object()
                .unwrap()
                .values()
                .all(|b| b["opensearch"].is_object()),
            "prod Jaeger stores elsewhere: {backends}"
        );
    }
    let opensearch = named(objects, "StatefulSet", "opensearch");
    assert!(opensearch["spec"]["replicas"].as_u64() >= Some(3));
    assert!(opensearch["spec"]["volumeClaimTemplates"][0].is_object());

    // dev keeps it small: Jaeger in memory, one NATS.
    assert_eq!(named(dev, "StatefulSet", "nats")["spec"]["replicas"], 1);
    assert!(
        of_kind(dev, "StatefulSet")
            .iter()
            .all(|s| s["metadata"]["name"] != "opensearch")
    );
}
