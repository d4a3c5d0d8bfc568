//! Building the workspace's binaries with cargo, and finding them: cargo reports every
//! artifact's path, so any target dir or profile works.

use serde_json::Value;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// What cargo builds. Cargo unifies dependency features over the selected packages, so the
/// selection decides whether artifacts an earlier build made are reused or built again.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// The six services' binaries, resolved together with the tool `package` that runs them (the
    /// stack, the load tool): its own build's graph, so nothing is compiled a second time.
    ServicesFor(&'a str),
    /// Every target of the workspace's default members, dev-dependencies included: the
    /// dependency graph of `cargo test`, and, since the full tier's package adds no dependency
    /// of its own, of `cargo test --workspace` too, so from inside the tests nothing is compiled
    /// twice.
    DefaultMembersAllTargets,
}

/// The workspace root (this crate lives in `tools/stack`).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/stack sits two levels below the workspace root")
}

/// Builds `selection` (a no-op when it is up to date), in release mode or not, and returns the
/// paths of the binaries built by name. Cargo's own output goes to stderr.
pub fn build(selection: Selection<'_>, release: bool) -> Result<HashMap<String, PathBuf>, String> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(workspace_root())
        .args(["build", "--message-format=json-render-diagnostics"]);
    match selection {
        Selection::ServicesFor(tool) => {
            cargo.args(["--bins", "-p", tool]);
            for service in crate::topology::SERVICES {
                cargo.args(["-p", service.package]);
            }
        }
        Selection::DefaultMembersAllTargets => {
            cargo.arg("--all-targets");
        }
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
        .filter(|message| message["profile"]["test"] == false)
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
        })
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(message["executable"].as_str()?)))
        })
        .collect())
}

/// The six service binaries in `dir` (e.g. `target/release` after a `cargo build`), by name.
pub fn find_in(dir: &Path) -> Result<HashMap<String, PathBuf>, String> {
    crate::topology::names()
        .map(|name| {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            if path.is_file() {
                Ok((name.to_string(), path))
            } else {
                Err(format!("no {name} binary in {}", dir.display()))
            }
        })
        .collect()
}
