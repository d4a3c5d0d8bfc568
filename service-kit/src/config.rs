//! What the services' `Config` types share: the millisecond value parser, and the development
//! hooks every service can turn on.

use crate::faults::Faults;
use shared_tracing::telemetry::Environment;
use std::time::Duration;

/// Parses a whole number of milliseconds (`2000`) into a `Duration`: the value parser of every
/// `*_MS` setting (`#[arg(env = "PAYMENT_TIMEOUT_MS", value_parser = millis)]`).
pub fn millis(raw: &str) -> Result<Duration, String> {
    raw.trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{raw:?} is not a whole number of milliseconds"))
}

/// The development hooks of a service's server, for its `Config` (`#[command(flatten)]`).
/// Neither is ever on with `ENVIRONMENT=production` unless asked for by name.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Development hooks")]
pub struct DevHooks {
    /// Honour per-request faults named in W3C baggage
    /// (`fault.<service>=error|unavailable|slow:<ms>|drop`): `true`, `1`, `yes` or `on` turn it
    /// on, anything else off. Default: on, except with ENVIRONMENT=production. At the gateway,
    /// with faults off, inbound `baggage` is dropped.
    #[arg(long, env = "FAULT_INJECTION")]
    pub fault_injection: Option<String>,
    /// `true` serves `POST /tracecontext/test`, the endpoint the official W3C Trace Context
    /// harness drives (it calls loopback addresses only). Never with ENVIRONMENT=production.
    #[arg(long, env = "TRACECONTEXT_TEST_ENDPOINT")]
    pub tracecontext_test_endpoint: Option<String>,
}

impl DevHooks {
    /// The faults `service` (its `service.name`) honours in `environment`.
    pub fn faults(&self, service: &str, environment: &Environment) -> Faults {
        let asked = self
            .fault_injection
            .as_deref()
            .map(|raw| raw.trim().to_ascii_lowercase())
            .filter(|raw| !raw.is_empty());
        let enabled = match asked {
            Some(raw) => matches!(raw.as_str(), "true" | "1" | "yes" | "on"),
            None => !environment.is_production(),
        };
        Faults::new(service, enabled)
    }

    /// Whether the W3C harness's endpoint is served in `environment`.
    pub fn tracecontext_test(&self, environment: &Environment) -> bool {
        let asked = self
            .tracecontext_test_endpoint
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        asked && !environment.is_production()
    }
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

    fn hooks(fault_injection: Option<&str>, tracecontext: Option<&str>) -> DevHooks {
        DevHooks {
            fault_injection: fault_injection.map(str::to_owned),
            tracecontext_test_endpoint: tracecontext.map(str::to_owned),
        }
    }

    #[test]
    fn fault_injection_is_off_in_production_unless_asked_for() {
        let (development, production) = (Environment::Development, Environment::Production);
        assert!(
            hooks(None, None)
                .faults("order-service", &development)
                .enabled()
        );
        assert!(
            !hooks(None, None)
                .faults("order-service", &production)
                .enabled()
        );
        assert!(hooks(Some("true"), None).faults("s", &production).enabled());
        assert!(hooks(Some(" On "), None).faults("s", &production).enabled());
        assert!(
            !hooks(Some("false"), None)
                .faults("s", &development)
                .enabled()
        );
    }

    #[test]
    fn the_harness_endpoint_is_served_only_when_asked_for_and_never_in_production() {
        let (development, production) = (Environment::Development, Environment::Production);
        assert!(!hooks(None, None).tracecontext_test(&development));
        assert!(hooks(None, Some("TRUE")).tracecontext_test(&development));
        assert!(!hooks(None, Some("true")).tracecontext_test(&production));
        assert!(!hooks(None, Some("1")).tracecontext_test(&development));
    }
}
