//! `.env`: the file docker-compose.yml reads its image versions and defaults from, read the way
//! compose reads it (the local stack takes `OTELCOL_CONFIG` from it; the tests, the versions).

use std::collections::BTreeMap;

/// `.env` of the workspace as a map (compose's `KEY=VALUE` lines; comments and blanks skipped).
/// A missing or unreadable file reads as empty.
pub fn dotenv() -> BTreeMap<String, String> {
    let file = crate::binaries::workspace_root().join(".env");
    std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
