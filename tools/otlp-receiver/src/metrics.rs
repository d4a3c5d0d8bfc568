//! Jaeger's Service Performance Monitoring API over the store — `/api/metrics/calls`,
//! `/errors`, `/latencies` and `/minstep`, the parameters, JSON and errors of Jaeger 2.12 —
//! computed from the stored spans as the Collector's spanmetrics connector, Prometheus and
//! Jaeger's reader compute it: per point, the calls per second over the `ratePer` window before
//! it, the share of them with an error status, and a latency quantile interpolated in the
//! connector's histogram buckets.
//!
//! Where Prometheus differs, the viewer counts exactly: a span is counted at its end (the
//! Collector counts it on arrival and Prometheus sees it at its next scrape), and the first
//! spans of a series count (Prometheus's `rate` misses a counter's first value).

use crate::{SpanKind, SpanRecord, SpanStore, StatusCode, jaeger::now_micros};
use axum::{
    Router,
    extract::{RawQuery, State},
    http::{StatusCode as HttpStatus, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc};

/// The most points a series may have: Prometheus's limit, which Jaeger's answers inherit.
const MAX_POINTS: i64 = 11_000;

/// The spanmetrics connector's default histogram bounds, in milliseconds (v0.161.0).
const BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10_000.0, 15_000.0,
];

/// The four routes over `store`.
pub(crate) fn router(store: Arc<SpanStore>) -> Router {
    Router::new()
        .route("/api/metrics/calls", get(calls))
        .route("/api/metrics/errors", get(errors))
        .route("/api/metrics/latencies", get(latencies))
        .route("/api/metrics/minstep", get(minstep))
        .with_state(store)
}

/// Which figure.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    Calls,
    Errors,
    Latencies(f64),
}

/// A query's parameters, read as Jaeger reads them (`cmd/query/app/query_parser.go`).
#[derive(Debug, Clone, PartialEq)]
struct Params {
    services: Vec<String>,
    by_operation: bool,
    kinds: Vec<SpanKind>,
    end_ms: i64,
    lookback_ms: i64,
    step_ms: i64,
    rate_per_ms: i64,
}

/// A refused query: Jaeger's status and message.
#[derive(Debug)]
struct Refusal {
    status: HttpStatus,
    message: String,
}

/// A 400 in Jaeger's words: `unable to parse param '<name>': <why>`.
fn parse_error(param: &str, why: String) -> Refusal {
    Refusal {
        status: HttpStatus::BAD_REQUEST,
        message: format!("unable to parse param '{param}': {why}"),
    }
}

impl IntoResponse for Refusal {
    /// Jaeger's error answer: its envelope with one error, as Go's `http.Error` writes it (plain
    /// text type, a trailing newline).
    fn into_response(self) -> Response {
        let body = json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{ "code": self.status.as_u16(), "msg": self.message }],
        });
        (
            self.status,
            [
                (CONTENT_TYPE.as_str(), "text/plain; charset=utf-8"),
                ("x-content-type-options", "nosniff"),
            ],
            format!("{body}\n"),
        )
            .into_response()
    }
}

/// Go's `strconv` error text for `raw`.
fn syntax(function: &str, raw: &str) -> String {
    format!("strconv.{function}: parsing {raw:?}: invalid syntax")
}

impl Params {
    /// The parameters of `raw`, and the quantile when `latencies` asks for one.
    fn parse(raw: Option<&str>, latencies: bool) -> Result<(Self, Option<f64>), Refusal> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).unwrap_or_default();
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let all = |name: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .collect()
        };
        let quantile = match latencies {
            true => {
                let raw = first("quantile").unwrap_or_default();
                Some(
                    raw.parse::<f64>()
                        .map_err(|_| parse_error("quantile", syntax("ParseFloat", raw)))?,
                )
            }
            false => None,
        };
        let services: Vec<String> = all("service").into_iter().map(str::to_owned).collect();
        if services.is_empty() {
            return Err(parse_error(
                "service",
                "please provide at least one service name".into(),
            ));
        }
        let by_operation = match first("groupByOperation").unwrap_or_default() {
            "" => false,
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            other => return Err(parse_error("groupByOperation", syntax("ParseBool", other))),
        };
        let kinds = match all("spanKind") {
            given if given.is_empty() => vec![SpanKind::Server],
            given => given
                .into_iter()
                .map(|kind| match kind {
                    "unspecified" => Ok(SpanKind::Unspecified),
                    "internal" => Ok(SpanKind::Internal),
                    "server" => Ok(SpanKind::Server),
                    "client" => Ok(SpanKind::Client),
                    "producer" => Ok(SpanKind::Producer),
                    "consumer" => Ok(SpanKind::Consumer),
                    other => Err(parse_error(
                        "spanKind",
                        format!("unsupported span kind: '{other}'"),
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        let millis = |name: &str, default: i64| match first(name).unwrap_or_default() {
            "" => Ok(default),
            raw => raw.parse::<i64>().map_err(|error| {
                let why = match error.kind() {
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                        format!("strconv.ParseInt: parsing {raw:?}: value out of range")
                    }
                    _ => syntax("ParseInt", raw),
                };
                parse_error(name, why)
            }),
        };
        let params = Self {
            services,
            by_operation,
            kinds,
            end_ms: millis("endTs", (now_micros() / 1_000) as i64)?,
            lookback_ms: millis("lookback", 3_600_000)?,
            step_ms: millis("step", 5_000)?,
            rate_per_ms: millis("ratePer", 600_000)?,
        };
        // Prometheus refuses these (and more than 11 000 points a series); Jaeger passes its
        // error on as a 500.
        let bad_data = |why: &str| Refusal {
            status: HttpStatus::INTERNAL_SERVER_ERROR,
            message: format!("failed executing metrics query: bad_data: {why}"),
        };
        if params.lookback_ms < 0 || params.step_ms <= 0 || params.rate_per_ms <= 0 {
            return Err(bad_data(
                "lookback must not be negative, step and ratePer must be positive",
            ));
        }
        if params.end_ms.checked_sub(params.lookback_ms).is_none()
            || params.end_ms.checked_sub(params.rate_per_ms).is_none()
        {
            return Err(bad_data("time out of range"));
        }
        if params.lookback_ms / params.step_ms >= MAX_POINTS {
            return Err(bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing \
                 the query resolution (?step=XX)",
            ));
        }
        Ok((params, quantile))
    }

    /// The points' times: from `endTs - lookback` to `endTs`, every `step`.
    fn times(&self) -> impl Iterator<Item = i64> + '_ {
        let start = self.end_ms - self.lookback_ms;
        (0..)
            .map_while(move |i: i64| start.checked_add(i.checked_mul(self.step_ms)?))
            .take_while(|t| *t <= self.end_ms)
    }
}

/// One computed series: its labels, and its points (time in ms, value).
type Computed = (Vec<(String, String)>, Vec<(i64, f64)>);

/// One series' spans: when each ended (ms), how long it took (ms), and whether it failed.
type Series = BTreeMap<(String, Option<String>), Vec<(i64, f64, bool)>>;

/// The spans each series counts: the requested services and span kinds, by service (and
/// operation).
fn series(store: &SpanStore, params: &Params) -> Series {
    let mut series = Series::new();
    store.with_traces(|traces| {
        for span in traces.flatten() {
            if !params.services.contains(&span.service_name) || !params.kinds.contains(&span.kind) {
                continue;
            }
            let key = (
                span.service_name.clone(),
                params.by_operation.then(|| span.name.clone()),
            );
            series.entry(key).or_default().push(point_of(span));
        }
    });
    for spans in series.values_mut() {
        spans.sort_by_key(|(end, _, _)| *end);
    }
    series
}

fn point_of(span: &SpanRecord) -> (i64, f64, bool) {
    (
        (span.end_time_unix_nano / 1_000_000) as i64,
        span.duration_nanos() as f64 / 1e6,
        span.status == StatusCode::Error,
    )
}

/// A series' value at each point from its first span on (a series exists in Prometheus from the
/// first scrape that saw it), `value` given the spans in the point's window.
/// `spans` is sorted by end time: each window is found by binary search.
fn points(
    params: &Params,
    spans: &[(i64, f64, bool)],
    since: i64,
    value: impl Fn(&[(i64, f64, bool)]) -> f64,
) -> Vec<(i64, f64)> {
    params
        .times()
        .filter(|t| *t >= since)
        .map(|t| {
            let from = spans.partition_point(|(end, _, _)| *end <= t - params.rate_per_ms);
            let to = spans.partition_point(|(end, _, _)| *end <= t);
            (t, value(&spans[from..to]))
        })
        .collect()
}

/// The figure for every series in `params`.
fn compute(store: &SpanStore, params: &Params, figure: Figure) -> Vec<Computed> {
    let series = series(store, params);
    let per_second = params.rate_per_ms as f64 / 1000.0;
    let labels = |(service, operation): &(String, Option<String>)| {
        let mut labels = vec![("service_name".to_owned(), service.clone())];
        if let Some(operation) = operation {
            labels.push(("operation".to_owned(), operation.clone()));
        }
        labels
    };
    let first_end = |spans: &[(i64, f64, bool)], failed_only: bool| {
        spans
            .iter()
            .filter(|(_, _, failed)| *failed || !failed_only)
            .map(|(end, _, _)| *end)
            .min()
    };
    match figure {
        Figure::Calls => series
            .iter()
            .filter_map(|(key, spans)| {
                let since = first_end(spans, false)?;
                let values = points(params, spans, since, |w| w.len() as f64 / per_second);
                Some((labels(key), values))
            })
            .collect(),
        Figure::Errors => {
            let failing: Vec<_> = series
                .iter()
                .filter_map(|(key, spans)| Some((key, spans, first_end(spans, true)?)))
                .collect();
            if failing.is_empty() {
                // As Jaeger's reader: no error series at all → the call series, every value 0.
                return compute(store, params, Figure::Calls)
                    .into_iter()
                    .map(|(labels, values)| {
                        (labels, values.into_iter().map(|(t, _)| (t, 0.0)).collect())
                    })
                    .collect();
            }
            failing
                .into_iter()
                .map(|(key, spans, since)| {
                    let values = points(params, spans, since, |w| {
                        let failed = w.iter().filter(|(_, _, failed)| *failed).count();
                        failed as f64 / w.len() as f64
                    });
                    (labels(key), values)
                })
                .collect()
        }
        Figure::Latencies(quantile) => series
            .iter()
            .filter_map(|(key, spans)| {
                let since = first_end(spans, false)?;
                let values = points(params, spans, since, |w| {
                    let durations: Vec<f64> = w.iter().map(|(_, d, _)| *d).collect();
                    histogram_quantile(quantile, &durations)
                });
                Some((labels(key), values))
            })
            .collect(),
    }
}

/// Prometheus's `histogram_quantile` over the connector's buckets holding `durations`: the
/// bucket the rank falls in, interpolated linearly; the highest finite bound past it; NaN with
/// no observation.
fn histogram_quantile(quantile: f64, durations: &[f64]) -> f64 {
    if quantile.is_nan() {
        return f64::NAN;
    }
    if quantile < 0.0 {
        return f64::NEG_INFINITY;
    }
    if quantile > 1.0 {
        return f64::INFINITY;
    }
    let total = durations.len() as f64;
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = quantile * total;
    let mut below = 0.0;
    let mut lower = 0.0;
    for bound in BUCKETS_MS {
        let count = durations.iter().filter(|d| **d <= bound).count() as f64;
        if count >= rank {
            let in_bucket = count - below;
            if in_bucket == 0.0 {
                return bound;
            }
            return lower + (bound - lower) * (rank - below) / in_bucket;
        }
        below = count;
        lower = bound;
    }
    BUCKETS_MS[BUCKETS_MS.len() - 1]
}

/// A number as gogo's jsonpb writes a double: shortest form, no `.0` on whole numbers, and
/// NaN and the infinities as strings.
fn number(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value.is_infinite() {
        Value::from(if value > 0.0 { "Infinity" } else { "-Infinity" })
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

/// RFC 3339 in UTC with milliseconds when there are any (`2021-05-07T01:43:06.500Z`), as jsonpb
/// writes a timestamp.
fn timestamp(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, millis) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    let fraction = match millis {
        0 => String::new(),
        millis => format!(".{millis:03}"),
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

/// The metric family Jaeger answers with: name, type, help and one series per label set.
fn family(params: &Params, figure: Figure, series: Vec<Computed>) -> Value {
    let (name, help) = match figure {
        Figure::Calls => (
            "service_call_rate",
            "calls/sec, grouped by service".to_owned(),
        ),
        Figure::Errors => (
            "service_error_rate",
            "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service"
                .to_owned(),
        ),
        Figure::Latencies(q) => (
            "service_latencies",
            format!("{q:.2}th quantile latency, grouped by service"),
        ),
    };
    let (name, help) = match params.by_operation {
        true => (
            name.replacen("service", "service_operation", 1),
            format!("{help} & operation"),
        ),
        false => (name.to_owned(), help),
    };
    let metrics: Vec<Value> = series
        .into_iter()
        .map(|(labels, points)| {
            let labels: Vec<Value> = labels
                .into_iter()
                .map(|(name, value)| json!({ "name": name, "value": value }))
                .collect();
            let points: Vec<Value> = points
                .into_iter()
                .map(|(t, v)| json!({ "gaugeValue": { "doubleValue": number(v) }, "timestamp": timestamp(t) }))
                .collect();
            json!({ "labels": labels, "metricPoints": points })
        })
        .collect();
    json!({ "name": name, "type": "GAUGE", "help": help, "metrics": metrics })
}

/// Which endpoint was asked.
#[derive(Debug, Clone, Copy)]
enum Wanted {
    Calls,
    Errors,
    Latencies,
}

async fn answer(store: &SpanStore, raw: Option<String>, wanted: Wanted) -> Response {
    let latencies = matches!(wanted, Wanted::Latencies);
    let (params, quantile) = match Params::parse(raw.as_deref(), latencies) {
        Ok(parsed) => parsed,
        Err(refusal) => return refusal.into_response(),
    };
    let figure = match (wanted, quantile) {
        (Wanted::Latencies, Some(quantile)) => Figure::Latencies(quantile),
        (Wanted::Errors, _) => Figure::Errors,
        _ => Figure::Calls,
    };
    let series = compute(store, &params, figure);
    axum::Json(family(&params, figure, series)).into_response()
}

async fn calls(State(store): State<Arc<SpanStore>>, RawQuery(raw): RawQuery) -> Response {
    answer(&store, raw, Wanted::Calls).await
}

async fn errors(State(store): State<Arc<SpanStore>>, RawQuery(raw): RawQuery) -> Response {
    answer(&store, raw, Wanted::Errors).await
}

async fn latencies(State(store): State<Arc<SpanStore>>, RawQuery(raw): RawQuery) -> Response {
    answer(&store, raw, Wanted::Latencies).await
}

/// The smallest step the store can answer, in milliseconds: 1, as Jaeger's Prometheus reader.
async fn minstep() -> axum::Json<Value> {
    axum::Json(json!({ "data": 1, "total": 0, "limit": 0, "offset": 0, "errors": null }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpanRecord;
    use axum::body::to_bytes;
    use tower::ServiceExt;

    #[test]
    fn quantiles_interpolate_in_the_connectors_buckets_as_prometheus_does() {
        let durations = [1.0, 3.0, 3.0, 5.0];
        assert_eq!(histogram_quantile(0.25, &durations), 2.0);
        assert_eq!(histogram_quantile(0.5, &durations), 3.0);
        assert!((histogram_quantile(0.95, &durations) - 5.6).abs() < 1e-9);
        // Past the last finite bound: that bound.
        assert_eq!(histogram_quantile(0.99, &[20_000.0]), 15_000.0);
        assert!(histogram_quantile(0.5, &[]).is_nan());
        assert_eq!(histogram_quantile(-1.0, &durations), f64::NEG_INFINITY);
    }

    #[test]
    fn numbers_and_times_are_written_as_jaegers_jsonpb_writes_them() {
        assert_eq!(number(5.0), json!(5));
        assert_eq!(number(0.9), json!(0.9));
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(timestamp(1_620_351_786_000), "2021-05-07T01:43:06Z");
        assert_eq!(timestamp(1_620_351_786_500), "2021-05-07T01:43:06.500Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }

    /// One SERVER span of its own trace.
    fn span(service: &str, name: &str, end_ms: u64, duration_ms: u64, failed: bool) -> SpanRecord {
        let end = end_ms * 1_000_000;
        let mut span = SpanRecord::for_tests(&format!("{end:032x}"), &format!("{end:016x}"));
        span.name = name.into();
        span.kind = SpanKind::Server;
        span.service_name = service.into();
        span.start_time_unix_nano = end - duration_ms * 1_000_000;
        span.end_time_unix_nano = end;
        if failed {
            span.status = StatusCode::Error;
        }
        span
    }

    async fn get(store: &Arc<SpanStore>, uri: &str) -> (u16, String) {
        let request = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router(store.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn red_per_service_and_operation_from_the_stored_spans() {
        let store = Arc::new(SpanStore::default());
        // Four calls to gateway in the minute before t = 120 s, one failed; one call after it.
        let t = 120_000;
        store.insert(vec![
            span("gateway", "GET /a", t - 50_000, 1, false),
            span("gateway", "GET /a", t - 40_000, 3, false),
            span("gateway", "GET /b", t - 30_000, 3, true),
            span("gateway", "GET /b", t - 20_000, 5, false),
            span("gateway", "GET /b", t + 1, 5, false),
            span("order-service", "POST /api/orders", t - 10_000, 100, false),
        ]);
        let window = format!("endTs={t}&lookback=60000&step=60000&ratePer=60000");
        let (status, body) = get(
            &store,
            &format!("/api/metrics/calls?service=gateway&{window}"),
        )
        .await;
        assert_eq!(status, 200);
        let calls: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(calls["name"], "service_call_rate");
        assert_eq!(
            calls["metrics"][0]["labels"],
            json!([{ "name": "service_name", "value": "gateway" }])
        );
        // Points at 60 s (one call in the minute before: 10 s after the first) and 120 s.
        let points = &calls["metrics"][0]["metricPoints"];
        assert_eq!(points.as_array().unwrap().len(), 1, "{body}");
        assert_eq!(points[0]["timestamp"], "1970-01-01T00:02:00Z");
        assert_eq!(points[0]["gaugeValue"]["doubleValue"], json!(4.0 / 60.0));

        let (_, body) = get(
            &store,
            &format!("/api/metrics/errors?service=gateway&groupByOperation=true&{window}"),
        )
        .await;
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(errors["name"], "service_operation_error_rate");
        assert_eq!(
            errors["help"],
            "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service & operation"
        );
        // Only GET /b has an error series: one of its two calls in the window.
        assert_eq!(errors["metrics"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(
            errors["metrics"][0]["labels"][1],
            json!({ "name": "operation", "value": "GET /b" })
        );
        assert_eq!(
            errors["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
            json!(0.5)
        );

        let (_, body) = get(
            &store,
            &format!("/api/metrics/latencies?service=gateway&quantile=0.5&{window}"),
        )
        .await;
        let latencies: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            latencies["help"],
            "0.50th quantile latency, grouped by service"
        );
        assert_eq!(
            latencies["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
            json!(3)
        );

        // No error anywhere: the call series, every value 0.
        let (_, body) = get(
            &store,
            &format!("/api/metrics/errors?service=order-service&{window}"),
        )
        .await;
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            errors["metrics"][0]["metricPoints"][0]["gaugeValue"]["doubleValue"],
            json!(0)
        );

        let (status, body) = get(&store, "/api/metrics/minstep").await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                r#"{"data":1,"errors":null,"limit":0,"offset":0,"total":0}"#
            )
        );
    }

    #[tokio::test]
    async fn queries_past_prometheus_limits_are_refused_not_computed() {
        let store = Arc::new(SpanStore::default());
        for query in [
            "service=a&step=1&lookback=3600000",
            "service=a&endTs=-9223372036854775807&ratePer=600000",
            "service=a&step=0",
        ] {
            let (status, body) = get(&store, &format!("/api/metrics/calls?{query}")).await;
            assert_eq!(status, 500, "{query}: {body}");
        }
        // A huge step is one point, not an overflow.
        for step in ["4611686018427387904", "9223372036854775807"] {
            let uri = format!("/api/metrics/calls?service=a&step={step}&lookback=1000");
            assert_eq!(get(&store, &uri).await.0, 200, "{step}");
        }
    }

    #[tokio::test]
    async fn bad_parameters_are_refused_in_jaegers_words() {
        let store = Arc::new(SpanStore::default());
        for (uri, message) in [
            (
                "/api/metrics/calls",
                "unable to parse param 'service': please provide at least one service name",
            ),
            (
                "/api/metrics/latencies?service=a",
                "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax",
            ),
            (
                "/api/metrics/calls?service=a&groupByOperation=yes",
                "unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"yes\": invalid syntax",
            ),
            (
                "/api/metrics/calls?service=a&spanKind=SERVER",
                "unable to parse param 'spanKind': unsupported span kind: 'SERVER'",
            ),
            (
                "/api/metrics/errors?service=a&endTs=1.5",
                "unable to parse param 'endTs': strconv.ParseInt: parsing \"1.5\": invalid syntax",
            ),
        ] {
            let (status, body) = get(&store, uri).await;
            assert_eq!(status, 400, "{uri}");
            assert!(body.ends_with("}\n"), "{uri}: {body:?}");
            let expected = json!({
                "data": null, "total": 0, "limit": 0, "offset": 0,
                "errors": [{ "code": 400, "msg": message }],
            });
            assert_eq!(
                serde_json::from_str::<Value>(&body).unwrap(),
                expected,
                "{uri}"
            );
        }
    }
}
