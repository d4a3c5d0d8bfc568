//! service-identities: issues each service an Ed25519 identity in a directory, for
//! `SERVICE_IDENTITY_DIR` — `<service>.key` (PKCS#8 PEM, owner-only) and `<service>.pub` (SPKI
//! PEM) — keeping the ones already there. Compose runs it once before the services start.
//!
//! `service-identities DIR [SERVICE...]` (default: the six services of the shop).

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().filter(|arg| !arg.starts_with('-')) else {
        eprintln!("usage: service-identities DIR [SERVICE...]");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let named: Vec<String> = args.collect();
    let services: Vec<&str> = match named.is_empty() {
        true => contracts::SERVICES.to_vec(),
        false => named.iter().map(String::as_str).collect(),
    };
    match service_kit::identity::generate(&dir, &services) {
        Ok(()) => {
            println!("identities of {} in {}", services.join(", "), dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("service-identities: {error}");
            ExitCode::FAILURE
        }
    }
}
