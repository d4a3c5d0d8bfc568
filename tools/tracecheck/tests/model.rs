//! The Jaeger model types read every Jaeger answer in the fixtures — those captured from the real
//! Jaeger v2 and the checker's own — and write them back unchanged.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tracecheck::jaeger::{Dependency, Operation, Response, Trace};

fn read(path: &str) -> Value {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `answer` read as `Response<T>` and written again is `answer`, field for field.
fn round_trips<T: Serialize + DeserializeOwned>(path: &str) {
    let answer = read(path);
    let typed: Response<T> = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("{path} does not read as the model: {e}"));
    assert_eq!(serde_json::to_value(&typed).unwrap(), answer, "{path}");
}

#[test]
fn real_jaegers_answers_round_trip_through_the_model() {
    let real = "../otlp-receiver/tests/fixtures";
    round_trips::<Vec<Trace>>(&format!("{real}/jaeger-trace.json"));
    round_trips::<Vec<String>>(&format!("{real}/jaeger-services.json"));
    round_trips::<Vec<Dependency>>(&format!("{real}/jaeger-dependencies.json"));
    let operations = read(&format!("{real}/jaeger-operations.json"));
    let typed: Response<Vec<String>> = serde_json::from_value(operations.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), operations);
}

#[test]
fn the_checkers_fixtures_round_trip_through_the_model() {
    round_trips::<Vec<Trace>>("tests/fixtures/complete.json");
    round_trips::<Vec<Trace>>("tests/fixtures/broken.json");
}

#[test]
fn typed_operations_and_errors_have_jaegers_field_names() {
    let operation = Operation {
        name: "POST /api/orders".into(),
        span_kind: "server".into(),
    };
    assert_eq!(
        serde_json::to_value(&operation).unwrap(),
        serde_json::json!({ "name": "POST /api/orders", "spanKind": "server" })
    );
    let not_found = serde_json::to_value(Response::<Vec<Trace>>::error(404, "trace not found"));
    assert_eq!(
        not_found.unwrap(),
        serde_json::json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{ "code": 404, "msg": "trace not found" }],
        })
    );
}
