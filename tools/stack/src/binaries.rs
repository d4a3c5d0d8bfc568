//! Building the workspace's binaries with cargo, and finding them: cargo reports every
//! artifact's path, so any target dir or profile works.

use serde_json::Value;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The six services: binary (and `service.name`) with the package that builds it.
pub const SERVICES: [(&str, &str); 6] = [
    ("gateway", "gateway"),
    ("user-service", "user"),
    ("auth-service", "auth"),
    ("order-service", "order"),
    ("inventory-service", "inventory"),
    ("payment-service", "payment"),
];

/// The workspace root (this crate lives in `tools/stack`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/stack sits two levels below the workspace root")
}

/// Builds the binaries of `packages` (a no-op when they are up to date), in release mode or
/// not, and returns their paths by binary name. Cargo's own output goes to stderr.
pub fn build(packages: &[&str], release: bool) -> Result<HashMap<String, PathBuf>, String> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(workspace_root()).args([
        "build",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    for package in packages {
        cargo.args(["-p", package]);
    }
    if release {
        cargo.arg("--release");
    }
    let output = cargo
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !output.status.success() {
        return Err("cargo build failed".into());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(message["executable"].as_str()?)))
        })
        .collect())
}
