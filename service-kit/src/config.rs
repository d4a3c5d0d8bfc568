//! Small helpers for the services' `Config` types.

use std::time::Duration;

/// Parses a whole number of milliseconds (`2000`) into a `Duration`: the value parser of every
/// `*_MS` setting (`#[arg(env = "PAYMENT_TIMEOUT_MS", value_parser = millis)]`).
pub fn millis(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{raw:?} is not a whole number of milliseconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_parse_into_durations() {
        assert_eq!(millis("2000"), Ok(Duration::from_secs(2)));
        assert_eq!(millis(" 0 "), Ok(Duration::ZERO));
        assert!(millis("2s").is_err() && millis("-1").is_err());
    }
}
