//! `GET /healthz`: the answer every service gives its probes — up, its name, and for a service
//! that calls others, each downstream's circuit state (visible without a trace). Probes are not
//! traced (`shared_tracing::http_server`).

use crate::{CircuitState, Downstream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `/healthz` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always `ok`: a service that cannot answer is not healthy.
    pub status: String,
    /// The service's `service.name`.
    pub service: String,
    /// Each downstream with a circuit breaker, by service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuits: Option<BTreeMap<String, CircuitState>>,
}

impl Health {
    /// A service without downstreams.
    pub fn ok(service: &str) -> Self {
        Self {
            status: "ok".to_owned(),
            service: service.to_owned(),
            circuits: None,
        }
    }

    /// A service that calls `downstreams`.
    pub fn with_circuits<'a>(
        service: &str,
        downstreams: impl IntoIterator<Item = &'a Downstream>,
    ) -> Self {
        let circuits = downstreams
            .into_iter()
            .filter_map(|d| Some((d.service().to_owned(), d.circuit_state()?)))
            .collect();
        Self {
            circuits: Some(circuits),
            ..Self::ok(service)
        }
    }
}
