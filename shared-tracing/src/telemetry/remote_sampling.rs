//! Jaeger remote sampling (`OTEL_TRACES_SAMPLER=jaeger_remote` or `parentbased_jaeger_remote`):
//! root sampling rates per service and per operation, fetched from a Jaeger `/sampling` endpoint
//! and polled in the background, so they change while the services run.
//!
//! Hand-written rather than opentelemetry_sdk's `jaeger_remote_sampler`, which (0.33) reads only
//! the proto-JSON dialect (`"strategyType": "PROBABILISTIC"`) while Jaeger 2.x answers the legacy
//! one (`"strategyType": 0`), first polls only after a whole interval, and puts no
//! `sampler.type` / `sampler.param` on the spans it samples — the attributes Jaeger's adaptive
//! sampling learns from.

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId},
};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};
use serde_json::Value;
use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, RwLock, mpsc},
    time::{Duration, Instant},
};

/// The variable the remote sampler's arguments come from.
const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// Operations given a lower-bound rate limiter of their own, at most (as Jaeger's clients).
const MAX_OPERATIONS: usize = 2000;

/// Where the strategies come from and what holds until they arrive, from
/// `OTEL_TRACES_SAMPLER_ARG` (`endpoint=…,pollingIntervalMs=…,initialSamplingRate=…`, the
/// OpenTelemetry specification's keys).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSamplingSettings {
    /// `endpoint`: Jaeger's HTTP sampling endpoint (default `http://localhost:5778/sampling`; a
    /// URL without a path gets `/sampling`).
    pub endpoint: String,
    /// `pollingIntervalMs` (default 60 000).
    pub polling_interval: Duration,
    /// `initialSamplingRate`: the root ratio until the first answer (default 0.001).
    pub initial_sampling_rate: f64,
}

impl Default for RemoteSamplingSettings {
    fn default() -> Self {
        Self {
            endpoint: "http://localhost:5778/sampling".to_owned(),
            polling_interval: Duration::from_secs(60),
            initial_sampling_rate: 0.001,
        }
    }
}

impl RemoteSamplingSettings {
    /// Parses `OTEL_TRACES_SAMPLER_ARG`. A key it does not know or a value it cannot use is
    /// reported in `warnings` (naming the variable) and that key keeps its default.
    pub fn parse(raw: Option<&str>, warnings: &mut Vec<String>) -> Self {
        let mut settings = Self::default();
        for pair in raw.unwrap_or_default().split(',').map(str::trim) {
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once('=').map(|(k, v)| (k.trim(), v.trim())) else {
                warnings.push(format!(
                    "{ARG}: `{pair}` is not key=value (keys: endpoint, pollingIntervalMs, initialSamplingRate); ignored"
                ));
                continue;
            };
            match key {
                "endpoint" => match endpoint(value) {
                    Some(url) => settings.endpoint = url.to_string(),
                    None => warnings.push(format!(
                        "{ARG}: endpoint={value} is not an http(s) URL; using {}",
                        settings.endpoint
                    )),
                },
                "pollingIntervalMs" => match value.parse::<u64>() {
                    Ok(ms) if ms > 0 => settings.polling_interval = Duration::from_millis(ms),
                    _ => warnings.push(format!(
                        "{ARG}: pollingIntervalMs={value} is not a positive whole number; using {}",
                        settings.polling_interval.as_millis()
                    )),
                },
                "initialSamplingRate" => match value.parse::<f64>() {
                    Ok(rate) if (0.0..=1.0).contains(&rate) => {
                        settings.initial_sampling_rate = rate;
                    }
                    _ => warnings.push(format!(
                        "{ARG}: initialSamplingRate={value} is not a number between 0 and 1; using {}",
                        settings.initial_sampling_rate
                    )),
                },
                _ => warnings.push(format!(
                    "{ARG}: unknown key `{key}` ignored (keys: endpoint, pollingIntervalMs, initialSamplingRate)"
                )),
            }
        }
        settings
    }
}

/// `value` as a sampling URL: http(s) only, `/sampling` when it names no path.
fn endpoint(value: &str) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(value).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    if url.path() == "/" {
        url.set_path("/sampling");
    }
    Some(url)
}

/// One service's sampling strategy, as Jaeger serves it.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Roots sampled by trace-id ratio.
    Probabilistic(f64),
    /// At most this many roots per second.
    RateLimiting(f64),
    /// A ratio per operation (span name), `default` for the others, and at least `lower_bound`
    /// roots per second of each operation whatever its ratio.
    PerOperation {
        /// The ratio of operations the table does not name.
        default: f64,
        /// Roots per second sampled of each operation regardless of its ratio (0: none).
        lower_bound: f64,
        /// Operation name → ratio.
        operations: HashMap<String, f64>,
    },
}

impl Strategy {
    /// Reads a `/sampling` answer in either dialect Jaeger speaks: the legacy JSON Jaeger 2.x
    /// serves (`"strategyType": 0`, `"probabilisticSampling": {"samplingRate": 0.5}`), and the
    /// proto-JSON of `api_v2` (`"strategyType": "PROBABILISTIC"`, zero values omitted).
    pub fn from_json(answer: &Value) -> Result<Self, String> {
        let number = |value: Option<&Value>, field: &str| -> Result<f64, String> {
            match value {
                // Proto-JSON leaves zero values out.
                None | Some(Value::Null) => Ok(0.0),
                // Jaeger serves a file's parameter as written; its clients clamp it.
                Some(value) => value
                    .as_f64()
                    .filter(|n| n.is_finite())
                    .map(|n| n.max(0.0))
                    .ok_or_else(|| format!("{field} is not a number: {value}")),
            }
        };
        let ratio = |value: Option<&Value>, field: &str| -> Result<f64, String> {
            number(value, field).map(|n| n.min(1.0))
        };
        if let Some(operations) = answer.get("operationSampling").filter(|v| !v.is_null()) {
            let mut table = HashMap::new();
            let listed = operations.get("perOperationStrategies");
            for entry in listed.and_then(Value::as_array).into_iter().flatten() {
                let name = entry
                    .get("operation")
                    .and_then(Value::as_str)
                    .ok_or("perOperationStrategies entry without an operation")?;
                let rate = ratio(
                    entry
                        .get("probabilisticSampling")
                        .and_then(|p| p.get("samplingRate")),
                    "samplingRate",
                )?;
                table.insert(name.to_owned(), rate);
            }
            return Ok(Self::PerOperation {
                default: ratio(
                    operations.get("defaultSamplingProbability"),
                    "defaultSamplingProbability",
                )?,
                lower_bound: number(
                    operations.get("defaultLowerBoundTracesPerSecond"),
                    "defaultLowerBoundTracesPerSecond",
                )?,
                operations: table,
            });
        }
        match answer.get("strategyType") {
            None | Some(Value::Null) => {}
            Some(kind) if kind == 0 || kind == "PROBABILISTIC" => {}
            Some(kind) if kind == 1 || kind == "RATE_LIMITING" => {
                return Ok(Self::RateLimiting(number(
                    answer
                        .get("rateLimitingSampling")
                        .and_then(|r| r.get("maxTracesPerSecond")),
                    "maxTracesPerSecond",
                )?));
            }
            Some(kind) => return Err(format!("unknown strategyType {kind}")),
        }
        Ok(Self::Probabilistic(ratio(
            answer
                .get("probabilisticSampling")
                .and_then(|p| p.get("samplingRate")),
            "samplingRate",
        )?))
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Probabilistic(rate) => write!(f, "probabilistic {rate}"),
            Self::RateLimiting(per_second) => write!(f, "ratelimiting {per_second}/s"),
            Self::PerOperation {
                default,
                lower_bound,
                operations,
            } => {
                let mut named: Vec<_> = operations.iter().collect();
                named.sort_by(|a, b| a.0.cmp(b.0));
                write!(f, "per operation (default {default}")?;
                if *lower_bound > 0.0 {
                    write!(f, ", at least {lower_bound}/s each")?;
                }
                for (operation, rate) in named {
                    write!(f, "; {operation}: {rate}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// A token bucket: `per_second` tokens a second, up to `max(per_second, 1)` saved.
#[derive(Debug)]
struct TokenBucket {
    per_second: f64,
    balance: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(per_second: f64) -> Self {
        Self {
            per_second,
            balance: per_second.max(1.0),
            refilled: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let earned = now.duration_since(self.refilled).as_secs_f64() * self.per_second;
        self.balance = (self.balance + earned).min(self.per_second.max(1.0));
        self.refilled = now;
        if self.balance >= 1.0 {
            self.balance -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A strategy with the state its decisions keep.
#[derive(Debug)]
struct Active {
    strategy: Strategy,
    limiter: Option<Mutex<TokenBucket>>,
    lower_bounds: Mutex<HashMap<String, TokenBucket>>,
}

impl Active {
    fn new(strategy: Strategy) -> Self {
        let limiter = match strategy {
            Strategy::RateLimiting(per_second) => Some(Mutex::new(TokenBucket::new(per_second))),
            _ => None,
        };
        Self {
            strategy,
            limiter,
            lower_bounds: Mutex::new(HashMap::new()),
        }
    }

    /// The decision for a root named `name`, and the `sampler.type` / `sampler.param` it was
    /// made by (the legacy Jaeger tags, which its adaptive sampling reads).
    fn decide(&self, trace_id: TraceId, name: &str) -> (bool, &'static str, f64) {
        match &self.strategy {
            Strategy::Probabilistic(rate) => (by_ratio(*rate, trace_id), "probabilistic", *rate),
            Strategy::RateLimiting(per_second) => {
                let limiter = self.limiter.as_ref().expect("made with the strategy");
                let sampled = limiter.lock().unwrap_or_else(|p| p.into_inner()).take();
                (sampled, "ratelimiting", *per_second)
            }
            Strategy::PerOperation {
                default,
                lower_bound,
                operations,
            } => {
                let rate = operations.get(name).copied().unwrap_or(*default);
                let by_rate = by_ratio(rate, trace_id);
                if *lower_bound <= 0.0 {
                    return (by_rate, "probabilistic", rate);
                }
                // As Jaeger's guaranteed-throughput sampler: every root spends a token, so the
                // bound is a floor under the ratio, not extra traces on top of it.
                let mut buckets = self.lower_bounds.lock().unwrap_or_else(|p| p.into_inner());
                let by_bound = if let Some(bucket) = buckets.get_mut(name) {
                    bucket.take()
                } else if buckets.len() < MAX_OPERATIONS {
                    let mut bucket = TokenBucket::new(*lower_bound);
                    let taken = bucket.take();
                    buckets.insert(name.to_owned(), bucket);
                    taken
                } else {
                    false
                };
                match by_rate {
                    true => (true, "probabilistic", rate),
                    false => (by_bound, "lowerbound", rate),
                }
            }
        }
    }
}

/// The SDK's trace-id ratio rule, so a trace sampled here at ratio r is one any OpenTelemetry
/// `traceidratio` sampler at r would also sample.
fn by_ratio(rate: f64, trace_id: TraceId) -> bool {
    let decision = Sampler::TraceIdRatioBased(rate)
        .should_sample(None, trace_id, "", &SpanKind::Internal, &[], &[])
        .decision;
    decision == SamplingDecision::RecordAndSample
}

/// The Jaeger remote sampler: decides every span it is asked about by its service's current
/// strategy (wrap it with `Sampler::parent_based` to decide only roots). Holds its initial rate
/// until [`JaegerRemoteSampler::poll`] brings strategies in: at once, then every polling
/// interval. An endpoint that does not answer leaves the last strategy in force and is logged
/// once per outage.
#[derive(Debug, Clone)]
pub struct JaegerRemoteSampler {
    current: Arc<RwLock<Arc<Active>>>,
}

/// The thread polling a sampler's strategies; dropping it stops the thread (at its next wake).
#[derive(Debug)]
#[must_use = "dropping the poller stops the polling"]
pub struct Poller {
    _stop: Option<mpsc::Sender<()>>,
}

impl JaegerRemoteSampler {
    /// A sampler at `settings`' initial rate; nothing is fetched until [`Self::poll`].
    pub fn new(settings: &RemoteSamplingSettings) -> Self {
        Self::with_strategy(Strategy::Probabilistic(settings.initial_sampling_rate))
    }

    /// A sampler held at `strategy` (nothing is polled).
    pub fn with_strategy(strategy: Strategy) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(Active::new(strategy)))),
        }
    }

    /// Starts fetching `service`'s strategy from `settings.endpoint`, at once and then every
    /// polling interval, on a thread of its own (blocking HTTP, so no async runtime is needed)
    /// until the returned [`Poller`] is dropped. Start it once logging is up: the first answer,
    /// or the first failure, is logged.
    pub fn poll(&self, service: &str, settings: &RemoteSamplingSettings) -> Poller {
        let Some(mut url) = endpoint(&settings.endpoint) else {
            tracing::warn!(
                "remote sampling: {} is not an http(s) URL; keeping {}",
                redacted(&settings.endpoint),
                self.strategy()
            );
            return Poller { _stop: None };
        };
        url.query_pairs_mut().append_pair("service", service);
        let (stop, stopped) = mpsc::channel();
        let current = self.current.clone();
        let interval = settings.polling_interval.max(Duration::from_millis(100));
        let spawned = std::thread::Builder::new()
            .name("jaeger-remote-sampling".to_owned())
            .spawn(move || poll(&current, &url, interval, &stopped));
        match spawned {
            Ok(_) => Poller { _stop: Some(stop) },
            Err(error) => {
                tracing::warn!(%error, "remote sampling: no thread to poll with; keeping the initial rate");
                Poller { _stop: None }
            }
        }
    }

    /// The strategy in force.
    pub fn strategy(&self) -> Strategy {
        self.active().strategy.clone()
    }

    fn active(&self) -> Arc<Active> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ShouldSample for JaegerRemoteSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let (sampled, kind, param) = self.active().decide(trace_id, name);
        SamplingResult {
            decision: match sampled {
                true => SamplingDecision::RecordAndSample,
                false => SamplingDecision::Drop,
            },
            // Only a sampled span is exported; an unsampled one need not carry the why.
            attributes: match sampled {
                true => vec![
                    KeyValue::new("sampler.type", kind),
                    KeyValue::new("sampler.param", param),
                ],
                false => Vec::new(),
            },
            trace_state: parent_context
                .filter(|cx| cx.has_active_span())
                .map(|cx| cx.span().span_context().trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

/// Fetches the strategy at `url` now and every `interval` until `stopped` says so (or its
/// sender is gone).
fn poll(
    current: &RwLock<Arc<Active>>,
    url: &reqwest::Url,
    interval: Duration,
    stopped: &mpsc::Receiver<()>,
) {
    let shown = redacted(url.as_str());
    let client = reqwest::blocking::Client::builder()
        .timeout(interval.min(Duration::from_secs(10)))
        .build();
    let client = match client {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "remote sampling: no HTTP client; keeping the initial rate");
            return;
        }
    };
    let in_force = || current.read().unwrap_or_else(|p| p.into_inner()).clone();
    let mut failing = false;
    loop {
        match fetch(&client, url, &shown) {
            Ok(strategy) => {
                let changed = in_force().strategy != strategy;
                if changed || failing {
                    tracing::info!("sampling strategy from {shown}: {strategy}");
                }
                if changed {
                    *current.write().unwrap_or_else(|p| p.into_inner()) =
                        Arc::new(Active::new(strategy));
                }
                failing = false;
            }
            Err(error) => {
                if !failing {
                    let strategy = &in_force().strategy;
                    tracing::warn!(
                        "remote sampling: {error}; sampling {strategy} until it answers"
                    );
                }
                failing = true;
            }
        }
        match stopped.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn fetch(
    client: &reqwest::blocking::Client,
    url: &reqwest::Url,
    shown: &str,
) -> Result<Strategy, String> {
    let response = client
        .get(url.clone())
        .send()
        .map_err(|error| format!("{shown} did not answer ({error})"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{shown} answered {status}"));
    }
    let answer: Value = response
        .json()
        .map_err(|error| format!("{shown} answered something other than JSON ({error})"))?;
    Strategy::from_json(&answer).map_err(|error| {
        let answer = answer.to_string();
        match super::prefix(&answer, 200) {
            Some(kept) => format!("{shown} answered {kept}…: {error}"),
            None => format!("{shown} answered {answer}: {error}"),
        }
    })
}

/// A URL fit for a log line: its password, if it has one, left out.
pub(crate) fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trace_ids(n: u64) -> impl Iterator<Item = TraceId> {
        // Spread over the id space the way random ids are.
        (0..n).map(|i| {
            TraceId::from(u128::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
        })
    }

    #[test]
    fn arguments_follow_the_specification_and_bad_ones_name_the_variable() {
        let mut warnings = Vec::new();
        let settings = RemoteSamplingSettings::parse(
            Some("endpoint=http://jaeger:5778, pollingIntervalMs=500,initialSamplingRate=0.25"),
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(settings.endpoint, "http://jaeger:5778/sampling");
        assert_eq!(settings.polling_interval, Duration::from_millis(500));
        assert_eq!(settings.initial_sampling_rate, 0.25);

        let settings = RemoteSamplingSettings::parse(
            Some("endpoint=jaeger:5778,pollingIntervalMs=-1,initialSamplingRate=2,rate=1,junk"),
            &mut warnings,
        );
        assert_eq!(settings, RemoteSamplingSettings::default());
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .all(|w| w.starts_with("OTEL_TRACES_SAMPLER_ARG: "))
        );
        assert!(warnings[0].contains("endpoint=jaeger:5778"), "{warnings:?}");
        assert!(warnings[3].contains("`rate`"), "{warnings:?}");
    }

    #[test]
    fn a_password_in_the_endpoint_is_never_logged() {
        assert_eq!(
            redacted("http://sampler:s3cret@jaeger:5778/sampling"),
            "http://sampler:redacted@jaeger:5778/sampling"
        );
        assert_eq!(
            redacted("http://jaeger:5778/sampling"),
            "http://jaeger:5778/sampling"
        );
    }

    #[test]
    fn both_dialects_of_the_answer_are_read() {
        let legacy = json!({
            "strategyType": 0,
            "probabilisticSampling": {"samplingRate": 0.5},
            "operationSampling": {
                "defaultSamplingProbability": 0.5,
                "defaultLowerBoundTracesPerSecond": 0,
                "perOperationStrategies": [
                    {"operation": "GET /api/inventory/{sku}", "probabilisticSampling": {"samplingRate": 0.1}},
                    {"operation": "GET /", "probabilisticSampling": {"samplingRate": 0}}
                ],
                "defaultUpperBoundTracesPerSecond": 0
            }
        });
        let Strategy::PerOperation {
            default,
            lower_bound,
            operations,
        } = Strategy::from_json(&legacy).unwrap()
        else {
            panic!("per operation");
        };
        assert_eq!((default, lower_bound), (0.5, 0.0));
        assert_eq!(operations["GET /api/inventory/{sku}"], 0.1);
        assert_eq!(operations["GET /"], 0.0);

        assert_eq!(
            Strategy::from_json(
                &json!({"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 5}})
            ),
            Ok(Strategy::RateLimiting(5.0))
        );
        assert_eq!(
            Strategy::from_json(
                &json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 2}})
            ),
            Ok(Strategy::RateLimiting(2.0))
        );
        // Proto-JSON omits PROBABILISTIC (0) and a rate of 0.
        assert_eq!(
            Strategy::from_json(&json!({"probabilisticSampling": {}})),
            Ok(Strategy::Probabilistic(0.0))
        );
        assert_eq!(
            Strategy::from_json(
                &json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 1}})
            ),
            Ok(Strategy::Probabilistic(1.0))
        );
        assert!(Strategy::from_json(&json!({"strategyType": 7})).is_err());
        // Jaeger serves a file's parameter as written; out of range is clamped, not refused.
        assert_eq!(
            Strategy::from_json(
                &json!({"strategyType": 0, "probabilisticSampling": {"samplingRate": -0.2}})
            ),
            Ok(Strategy::Probabilistic(0.0))
        );
        assert_eq!(
            Strategy::from_json(
                &json!({"strategyType": 0, "probabilisticSampling": {"samplingRate": 1.5}})
            ),
            Ok(Strategy::Probabilistic(1.0))
        );
        assert!(
            Strategy::from_json(&json!({"probabilisticSampling": {"samplingRate": "all"}}))
                .is_err()
        );
    }

    #[test]
    fn operations_get_their_own_ratio_and_sampled_roots_say_why() {
        let sampler = JaegerRemoteSampler::with_strategy(Strategy::PerOperation {
            default: 1.0,
            lower_bound: 0.0,
            operations: HashMap::from([
                ("GET /api/inventory/{sku}".to_owned(), 0.1),
                ("GET /".to_owned(), 0.0),
            ]),
        });
        let count = |name: &str| {
            trace_ids(10_000)
                .filter(|id| {
                    let result =
                        sampler.should_sample(None, *id, name, &SpanKind::Server, &[], &[]);
                    if result.decision == SamplingDecision::RecordAndSample {
                        assert_eq!(
                            result.attributes,
                            vec![
                                KeyValue::new("sampler.type", "probabilistic"),
                                KeyValue::new(
                                    "sampler.param",
                                    if name == "POST /api/orders" { 1.0 } else { 0.1 }
                                ),
                            ]
                        );
                        true
                    } else {
                        assert!(result.attributes.is_empty());
                        false
                    }
                })
                .count()
        };
        assert_eq!(count("POST /api/orders"), 10_000);
        assert_eq!(count("GET /"), 0);
        // 10% of 10 000 ids: 1000 expected, standard deviation 30.
        let lookups = count("GET /api/inventory/{sku}");
        assert!((850..=1150).contains(&lookups), "{lookups}");
    }

    #[test]
    fn the_lower_bound_and_the_rate_limit_are_token_buckets() {
        let sampler = JaegerRemoteSampler::with_strategy(Strategy::PerOperation {
            default: 0.0,
            lower_bound: 2.0,
            operations: HashMap::new(),
        });
        let sampled: Vec<_> = trace_ids(100)
            .map(|id| sampler.should_sample(None, id, "GET /", &SpanKind::Server, &[], &[]))
            .filter(|r| r.decision == SamplingDecision::RecordAndSample)
            .collect();
        // A full bucket holds two tokens; a burst takes them and no more.
        assert_eq!(sampled.len(), 2);

        // Roots the ratio samples spend tokens too: the bound is a floor, not an addition.
        let sampler = JaegerRemoteSampler::with_strategy(Strategy::PerOperation {
            default: 1.0,
            lower_bound: 2.0,
            operations: HashMap::new(),
        });
        for id in trace_ids(2) {
            let result = sampler.should_sample(None, id, "GET /", &SpanKind::Server, &[], &[]);
            assert_eq!(
                result.attributes[0],
                KeyValue::new("sampler.type", "probabilistic")
            );
        }
        let active = sampler.active();
        let mut buckets = active.lower_bounds.lock().unwrap();
        assert!(
            !buckets
                .get_mut("GET /")
                .unwrap()
                .take_at(Instant::now() - Duration::from_secs(1))
        );
        assert_eq!(
            sampled[0].attributes,
            vec![
                KeyValue::new("sampler.type", "lowerbound"),
                KeyValue::new("sampler.param", 0.0),
            ]
        );

        let mut bucket = TokenBucket::new(1000.0);
        let start = bucket.refilled;
        assert_eq!((0..2000).filter(|_| bucket.take_at(start)).count(), 1000);
        // A tenth of a second earns a hundred (sub-second gaps count).
        let later = start + Duration::from_millis(100);
        assert_eq!((0..2000).filter(|_| bucket.take_at(later)).count(), 100);
    }

    /// A `/sampling` endpoint answering `answer` for `service=quote` (400 otherwise), and how
    /// many times it was asked.
    async fn endpoint(answer: Value) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use axum::{extract::Query, http::StatusCode, routing::get};
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            "/sampling",
            get(move |Query(query): Query<HashMap<String, String>>| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let answer = answer.clone();
                async move {
                    match query.get("service").map(String::as_str) {
                        Some("quote") => Ok(axum::Json(answer)),
                        _ => Err(StatusCode::BAD_REQUEST),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sampling", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, asked)
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_first_fetch_is_at_once_not_one_interval_later() {
        let (url, asked) = endpoint(json!({
            "strategyType": 0,
            "probabilisticSampling": {"samplingRate": 0.25}
        }))
        .await;
        // An hour between polls: only a fetch at start can bring the strategy in time.
        let settings = RemoteSamplingSettings {
            endpoint: url,
            polling_interval: Duration::from_secs(3600),
            initial_sampling_rate: 1.0,
        };
        let sampler = JaegerRemoteSampler::new(&settings);
        assert_eq!(sampler.strategy(), Strategy::Probabilistic(1.0));
        let poller = sampler.poll("quote", &settings);
        until("the first fetch", || {
            sampler.strategy() == Strategy::Probabilistic(0.25)
        })
        .await;
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop(poller);
    }

    #[test]
    fn parent_based_leaves_children_to_the_parent_and_keeps_the_attributes() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
        let sampler = Sampler::parent_based(JaegerRemoteSampler::with_strategy(
            Strategy::Probabilistic(1.0),
        ));
        let unsampled = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(7u128),
            SpanId::from(9u64),
            TraceFlags::default(),
            true,
            TraceState::default(),
        ));
        let child = sampler.should_sample(
            Some(&unsampled),
            TraceId::from(7u128),
            "GET /",
            &SpanKind::Server,
            &[],
            &[],
        );
        assert_eq!(child.decision, SamplingDecision::Drop);
        let root = sampler.should_sample(
            None,
            TraceId::from(7u128),
            "GET /",
            &SpanKind::Server,
            &[],
            &[],
        );
        assert_eq!(root.decision, SamplingDecision::RecordAndSample);
        assert_eq!(root.attributes.len(), 2);
    }
}
