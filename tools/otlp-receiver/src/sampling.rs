//! Jaeger's remote sampling endpoint (`GET /sampling?service=NAME`, port 5778) over a strategies
//! file in Jaeger's format, answering as Jaeger 2.12's `remote_sampling` extension does: the same
//! merge of the default strategy's operations into each service's, the same legacy JSON
//! (`"strategyType": 0`), the same 400. The file is read again when it changes; a file that no
//! longer parses leaves the last good strategies in force, as Jaeger keeps them.

use axum::{
    Router,
    extract::{Query, State},
    http::{StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

/// What a strategy falls back to when the file names no default or an unknown type (Jaeger's
/// `default_sampling_probability`).
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// Strategies as Jaeger's file provider resolves them: one answer per named service and a default.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default: Answer,
    services: HashMap<String, Answer>,
}

impl Strategies {
    /// Parses a strategies file (`default_strategy`, `service_strategies`, each with optional
    /// `operation_strategies`); `null` or `{}` gives the defaults.
    pub fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        let file: Option<File> = serde_json::from_slice(json)?;
        let file = file.unwrap_or_default();
        let default = match &file.default_strategy {
            Some(strategy) => service_answer(strategy),
            None => Answer::probabilistic(DEFAULT_SAMPLING_PROBABILITY),
        };
        let mut services = HashMap::new();
        for strategy in file.service_strategies.iter().flatten() {
            let mut answer = service_answer(strategy);
            if let Some(defaults) = &default.operation_sampling {
                match &mut answer.operation_sampling {
                    None => {
                        let mut copied = defaults.clone();
                        if let Some(own) = &answer.probabilistic_sampling {
                            copied.default_sampling_probability = own.sampling_rate;
                        }
                        answer.operation_sampling = Some(copied);
                    }
                    Some(own) => {
                        // Only the service's own names are checked, as Jaeger does: a name the
                        // default lists twice is appended twice.
                        let named: Vec<String> = own
                            .per_operation_strategies
                            .iter()
                            .map(|o| o.operation.clone())
                            .collect();
                        for operation in &defaults.per_operation_strategies {
                            if !named.contains(&operation.operation) {
                                own.per_operation_strategies.push(operation.clone());
                            }
                        }
                    }
                }
            }
            services.insert(strategy.service.clone().unwrap_or_default(), answer);
        }
        Ok(Self { default, services })
    }

    /// The answer for `service` (the default for a service the file does not name).
    pub fn answer(&self, service: &str) -> &Answer {
        self.services.get(service).unwrap_or(&self.default)
    }
}

/// The file, as Go's `encoding/json` reads it (unknown fields ignored, nulls as zero values).
#[derive(Debug, Default, Deserialize)]
struct File {
    default_strategy: Option<ServiceStrategy>,
    service_strategies: Option<Vec<ServiceStrategy>>,
}

#[derive(Debug, Deserialize)]
struct ServiceStrategy {
    service: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<f64>,
    operation_strategies: Option<Vec<OperationStrategy>>,
}

#[derive(Debug, Deserialize)]
struct OperationStrategy {
    operation: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<f64>,
}

/// One service's answer, in the legacy JSON Jaeger's HTTP endpoint writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// 0: probabilistic, 1: rate limiting.
    strategy_type: u8,
    probabilistic_sampling: Option<Probabilistic>,
    rate_limiting_sampling: Option<RateLimiting>,
    operation_sampling: Option<PerOperation>,
}

impl Answer {
    fn probabilistic(rate: f64) -> Self {
        Self {
            strategy_type: 0,
            probabilistic_sampling: Some(Probabilistic {
                sampling_rate: rate,
            }),
            rate_limiting_sampling: None,
            operation_sampling: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Probabilistic {
    sampling_rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct RateLimiting {
    max_traces_per_second: i32,
}

#[derive(Debug, Clone, PartialEq)]
struct PerOperation {
    default_sampling_probability: f64,
    default_lower_bound_traces_per_second: f64,
    per_operation_strategies: Vec<OperationAnswer>,
    default_upper_bound_traces_per_second: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct OperationAnswer {
    operation: String,
    probabilistic_sampling: Probabilistic,
}

impl Answer {
    /// The JSON Jaeger writes: its legacy field names and order, nothing for an absent part,
    /// numbers and strings as Go's `encoding/json` writes them.
    pub fn to_json(&self) -> String {
        let mut json = format!("{{\"strategyType\":{}", self.strategy_type);
        if let Some(p) = &self.probabilistic_sampling {
            json += &format!(
                ",\"probabilisticSampling\":{{\"samplingRate\":{}}}",
                go_float(p.sampling_rate)
            );
        }
        if let Some(r) = &self.rate_limiting_sampling {
            json += &format!(
                ",\"rateLimitingSampling\":{{\"maxTracesPerSecond\":{}}}",
                r.max_traces_per_second
            );
        }
        if let Some(o) = &self.operation_sampling {
            let operations: Vec<String> = o
                .per_operation_strategies
                .iter()
                .map(|op| {
                    format!(
                        "{{\"operation\":{},\"probabilisticSampling\":{{\"samplingRate\":{}}}}}",
                        go_string(&op.operation),
                        go_float(op.probabilistic_sampling.sampling_rate)
                    )
                })
                .collect();
            json += &format!(
                ",\"operationSampling\":{{\"defaultSamplingProbability\":{},\
                 \"defaultLowerBoundTracesPerSecond\":{},\"perOperationStrategies\":[{}],\
                 \"defaultUpperBoundTracesPerSecond\":{}}}",
                go_float(o.default_sampling_probability),
                go_float(o.default_lower_bound_traces_per_second),
                operations.join(","),
                go_float(o.default_upper_bound_traces_per_second)
            );
        }
        json.push('}');
        json
    }
}

/// A float as Go's `encoding/json` writes it: the shortest decimal that reads back the same
/// (`1`, `0.1`, `0.000001`), with an exponent only below 1e-6 or from 1e21 up (`1e-7`, `1e+21`).
fn go_float(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let written = format!("{value:e}");
        return match written.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => written,
        };
    }
    format!("{value}")
}

/// A string as Go's `encoding/json` writes it: JSON escapes, and `<`, `>`, `&`, U+2028 and
/// U+2029 as `\u` escapes (HTML-safe).
fn go_string(value: &str) -> String {
    serde_json::to_string(value)
        .expect("a string")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A service's own strategy: its type and param, and its probabilistic operations.
fn service_answer(strategy: &ServiceStrategy) -> Answer {
    let mut answer = match (strategy.kind.as_deref(), strategy.param.unwrap_or(0.0)) {
        (Some("probabilistic"), rate) => Answer::probabilistic(rate),
        (Some("ratelimiting"), per_second) => Answer {
            strategy_type: 1,
            probabilistic_sampling: None,
            // Jaeger converts with int32(param): toward zero.
            rate_limiting_sampling: Some(RateLimiting {
                max_traces_per_second: per_second as i32,
            }),
            operation_sampling: None,
        },
        _ => Answer::probabilistic(DEFAULT_SAMPLING_PROBABILITY),
    };
    let operations = strategy.operation_strategies.as_deref().unwrap_or_default();
    if !operations.is_empty() {
        answer.operation_sampling = Some(PerOperation {
            default_sampling_probability: answer
                .probabilistic_sampling
                .as_ref()
                .map_or(DEFAULT_SAMPLING_PROBABILITY, |p| p.sampling_rate),
            default_lower_bound_traces_per_second: 0.0,
            // Operations are probabilistic only: a rate-limited one is left out.
            per_operation_strategies: operations
                .iter()
                .filter_map(|operation| {
                    let rate = match operation.kind.as_deref() {
                        Some("probabilistic") => operation.param.unwrap_or(0.0),
                        Some("ratelimiting") => return None,
                        _ => DEFAULT_SAMPLING_PROBABILITY,
                    };
                    Some(OperationAnswer {
                        operation: operation.operation.clone().unwrap_or_default(),
                        probabilistic_sampling: Probabilistic {
                            sampling_rate: rate,
                        },
                    })
                })
                .collect(),
            default_upper_bound_traces_per_second: 0.0,
        });
    }
    answer
}

/// A strategies file, read again whenever its bytes change.
#[derive(Debug)]
pub struct StrategiesFile {
    path: PathBuf,
    last: Mutex<(Vec<u8>, Arc<Strategies>)>,
}

impl StrategiesFile {
    /// Reads `path`; a file that cannot be read or parsed is an error here (Jaeger does not start
    /// either).
    pub fn open(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let strategies = Strategies::parse(&bytes)
            .map_err(|e| format!("{} is not a strategies file: {e}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            last: Mutex::new((bytes, Arc::new(strategies))),
        })
    }

    /// The strategies in force: the file's, or the last good ones while it does not parse.
    pub fn current(&self) -> Arc<Strategies> {
        let mut last = self.last.lock().expect("never poisoned");
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes != last.0 => match Strategies::parse(&bytes) {
                Ok(strategies) => {
                    tracing::info!(file = %self.path.display(), "sampling strategies reloaded");
                    *last = (bytes, Arc::new(strategies));
                }
                Err(error) => {
                    tracing::error!(file = %self.path.display(), %error, "sampling strategies not reloaded; the last good ones stay");
                }
            },
            Ok(_) => {}
            Err(error) => {
                tracing::error!(file = %self.path.display(), %error, "sampling strategies not re-read; the last good ones stay");
            }
        }
        last.1.clone()
    }
}

/// `GET /sampling?service=NAME` (any path, as Jaeger answers any) over `file`.
pub fn sampling_router(file: Arc<StrategiesFile>) -> Router {
    Router::new().fallback(answer).with_state(file)
}

async fn answer(
    State(file): State<Arc<StrategiesFile>>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut services = query.iter().filter(|(key, _)| key == "service");
    let (Some((_, service)), None) = (services.next(), services.next()) else {
        return (
            StatusCode::BAD_REQUEST,
            "'service' parameter must be provided once\n",
        )
            .into_response();
    };
    let strategies = file.current();
    let answer = strategies.answer(service);
    // Jaeger's legacy encoding holds the rate limit in 16 bits.
    if answer
        .rate_limiting_sampling
        .as_ref()
        .is_some_and(|r| i16::try_from(r.max_traces_per_second).is_err())
    {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot marshall to JSON\n",
        )
            .into_response();
    }
    ([(CONTENT_TYPE, "application/json")], answer.to_json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"default_strategy": {"type": "probabilistic", "param": 0.5, "operation_strategies": [{"operation": "GET /x", "type": "probabilistic", "param": 0.0}]},
 "service_strategies": [
   {"service": "gateway", "type": "probabilistic", "param": 1.0, "operation_strategies": [{"operation": "GET /api/inventory/{sku}", "type": "probabilistic", "param": 0.1}]},
   {"service": "limited", "type": "ratelimiting", "param": 5}
 ]}"#;

    #[test]
    fn numbers_and_strings_are_written_as_go_writes_them() {
        let written: Vec<String> = [1.0, 0.0, 0.1, 0.000001, 0.0000025, 1e-7, 1e21, 123456.5]
            .into_iter()
            .map(go_float)
            .collect();
        assert_eq!(
            written,
            [
                "1",
                "0",
                "0.1",
                "0.000001",
                "0.0000025",
                "1e-7",
                "1e+21",
                "123456.5"
            ]
        );
        assert_eq!(
            go_string("GET /a?b<c>&\"d\""),
            r#""GET /a?b\u003cc\u003e\u0026\"d\"""#
        );
    }

    /// Jaeger 2.12's answers for `FILE`, byte for byte.
    #[test]
    fn answers_are_jaegers() {
        let strategies = Strategies::parse(FILE.as_bytes()).unwrap();
        let json = |service| strategies.answer(service).to_json();
        assert_eq!(
            json("gateway"),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":1},"operationSampling":{"defaultSamplingProbability":1,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"GET /api/inventory/{sku}","probabilisticSampling":{"samplingRate":0.1}},{"operation":"GET /x","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#
        );
        assert_eq!(
            json("limited"),
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"GET /x","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#
        );
        assert_eq!(
            json("unknown"),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5},"operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"GET /x","probabilisticSampling":{"samplingRate":0}}],"defaultUpperBoundTracesPerSecond":0}}"#
        );
        assert_eq!(
            Strategies::parse(b"{}").unwrap().answer("any").to_json(),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.001}}"#
        );
    }
}
