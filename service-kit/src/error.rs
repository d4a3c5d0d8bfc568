//! The JSON error body every service answers with — `{"error": ..., "trace_id": ...}` — and a
//! JSON extractor whose rejections use it. Bad input is never echoed whole: a value that does not
//! fit the JSON body's type is left out of the message (it may be a card number), and anything
//! else quoted from the request is cut to [`excerpt`].

use axum::{
    Json as AxumJson,
    extract::{FromRequest, FromRequestParts, rejection::JsonRejection, rejection::PathRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

/// The body of every error answer of every service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, safe to show the caller.
    pub error: String,
    /// The request's trace (32 hex digits); `null` only when the request was not traced.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Why a payment was declined or failed (`card_declined`, `processing_error`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The order a refused payment was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The payment attempt that was declined or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

impl ErrorBody {
    /// A body with only its message (the trace id is filled in when it is answered).
    pub fn new(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            trace_id: None,
            reason: None,
            order_id: None,
            payment_id: None,
        }
    }
}

/// An error answer: status, a body whose message is safe to show the caller, and optional
/// headers. The current trace id is added when it is turned into a response.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    headers: HeaderMap,
}

impl ApiError {
    /// An error with `status` and a caller-facing `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(message),
            headers: HeaderMap::new(),
        }
    }

    /// A 500 whose cause is logged inside the current span (so it reaches the trace as an error
    /// event) and never sent to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// Adds `reason` to the body.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.body.reason = Some(reason.into());
        self
    }

    /// Adds `order_id` to the body.
    pub fn with_order_id(mut self, order_id: impl Into<String>) -> Self {
        self.body.order_id = Some(order_id.into());
        self
    }

    /// Adds `payment_id` to the body.
    pub fn with_payment_id(mut self, payment_id: impl Into<String>) -> Self {
        self.body.payment_id = Some(payment_id.into());
        self
    }

    /// Adds a response header (such as `Proxy-Status` on a relayed failure).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        self.body.trace_id = shared_tracing::propagation::current_trace_id();
        (self.status, self.headers, AxumJson(self.body)).into_response()
    }
}

/// `axum::Json`, but a body that is not valid JSON for `T` gets the standard error body.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(rejection.status(), without_input(&rejection.body_text()))
    }
}

/// How much of a caller's input an error message quotes at most, in characters.
pub const EXCERPT_CHARS: usize = 64;

/// `input` as an error message may quote it: the first [`EXCERPT_CHARS`] characters, and `…` when
/// there was more.
pub fn excerpt(input: &str) -> String {
    cut_to(input, EXCERPT_CHARS)
}

fn cut_to(input: &str, limit: usize) -> String {
    match shared_tracing::telemetry::prefix(input, limit) {
        Some(kept) => format!("{kept}…"),
        None => input.to_owned(),
    }
}

/// The longest rejection message answered, whatever names it quotes.
const MESSAGE_CHARS: usize = 256;

/// A deserialisation message without the offending value: serde says "invalid type: integer
/// `4242424242424242`, expected a string"; what the caller sent, between the kind and
/// ", expected", is dropped. Other messages quote only names from the type, cut to an excerpt.
fn without_input(message: &str) -> String {
    let message = match message.split_once(", expected") {
        Some((head, tail)) => {
            let cut = head.find(['`', '"']).unwrap_or(head.len());
            format!("{}, expected{}", head[..cut].trim_end(), excerpt(tail))
        }
        None => quoted_excerpts(message),
    };
    cut_to(&message, MESSAGE_CHARS)
}

/// `message` with every backtick-quoted part cut to an [`excerpt`].
fn quoted_excerpts(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                excerpt(part)
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        AxumJson(self.0).into_response()
    }
}

/// `axum::extract::Path`, but an unparsable segment gets the standard error body.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::new(rejection.status(), quoted_excerpts(&rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_does_not_fit_the_type_is_not_echoed() {
        let serde = "Failed to deserialize the JSON body into the target type: card_number: \
            invalid type: integer `4242424242424242`, expected a string at line 1 column 62";
        let message = without_input(serde);
        assert!(!message.contains("4242"), "{message}");
        assert!(message.contains("card_number: invalid type: integer, expected a string"));
        let string = r#"currency: invalid value: string "4000000000000002", expected USD"#;
        assert!(
            !without_input(string).contains("4000"),
            "{}",
            without_input(string)
        );
    }

    #[test]
    fn quoted_input_is_cut_to_an_excerpt() {
        let long = "x".repeat(50_000);
        let message = quoted_excerpts(&format!("Cannot parse `{long}` to a `i64`"));
        assert!(message.chars().count() < EXCERPT_CHARS + 40, "{message}");
        assert!(message.ends_with("…` to a `i64`"), "{message}");
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"é".repeat(100)).chars().count(), EXCERPT_CHARS + 1);
    }
}
