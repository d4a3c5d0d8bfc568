//! The public API as an OpenAPI 3.1 document, served at `GET /openapi.json`: its paths from the
//! route table ([`crate::routes::ROUTES`]), its bodies from the very types the services send and
//! read (the `contracts` crate; utoipa derives their schemas). schemathesis holds the services'
//! real answers to it in the tests.

use crate::routes::{ROUTES, Route};
use axum::http::Method;
use contracts::{
    auth::{LoginRequest, LoginResponse},
    inventory::Stock,
    order::{Line, Order, OrderPlaced, OrderRequest, OrderStatus},
    user::Profile,
};
use serde_json::json;
use service_kit::ErrorBody;
use std::sync::OnceLock;
use utoipa::{
    PartialSchema,
    openapi::{
        ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder,
        PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, ResponsesBuilder,
        header::HeaderBuilder,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

/// The document, built once.
pub(crate) fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in &ROUTES {
        let method = match route.method {
            Method::GET => HttpMethod::Get,
            _ => HttpMethod::Post,
        };
        paths = paths.path(route.public, PathItem::new(method, operation(route)));
    }
    let components = ComponentsBuilder::new()
        .schema_from::<LoginRequest>()
        .schema_from::<LoginResponse>()
        .schema_from::<Profile>()
        .schema_from::<Line>()
        .schema_from::<OrderRequest>()
        .schema_from::<OrderPlaced>()
        .schema_from::<OrderStatus>()
        .schema_from::<Order>()
        .schema_from::<Stock>()
        .schema_from::<ErrorBody>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Distributed tracing demo shop: the gateway")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Every answer carries `traceresponse`; every error is `{error, trace_id}`.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// What one route takes and answers: its success status and body, its request body, whether it
/// needs a token, and the errors particular to it.
struct Contract {
    ok: &'static str,
    ok_schema: &'static str,
    body: Option<&'static str>,
    secured: bool,
    errors: &'static [(&'static str, &'static str)],
}

/// What one route takes and answers.
fn operation(route: &Route) -> utoipa::openapi::path::Operation {
    let json = |schema: &str| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build()
    };
    let answer = |description: &str, schema: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", json(schema))
            .build()
    };
    let Contract {
        ok,
        ok_schema,
        body,
        secured,
        errors,
    } = match route.public {
        "/api/login" => Contract {
            ok: "200",
            ok_schema: "LoginResponse",
            body: Some("LoginRequest"),
            secured: false,
            errors: &[
                ("401", "wrong name or password"),
                ("429", "too many attempts"),
            ],
        },
        "/api/users/{id}" => Contract {
            ok: "200",
            ok_schema: "User",
            body: None,
            secured: true,
            errors: &[
                ("401", "no valid token"),
                ("403", "another user's profile"),
                ("404", "no such user"),
            ],
        },
        "/api/orders" => Contract {
            ok: "201",
            ok_schema: "OrderCreated",
            body: Some("OrderRequest"),
            secured: true,
            errors: &[
                ("401", "no valid token"),
                ("402", "payment declined"),
                ("409", "not enough stock"),
            ],
        },
        "/api/orders/{id}" => Contract {
            ok: "200",
            ok_schema: "Order",
            body: None,
            secured: true,
            errors: &[("401", "no valid token"), ("404", "no such order of yours")],
        },
        _ => Contract {
            ok: "200",
            ok_schema: "Stock",
            body: None,
            secured: false,
            errors: &[("404", "no such product")],
        },
    };
    let mut responses = ResponsesBuilder::new().response(ok, answer("done", ok_schema));
    for (status, description) in errors {
        let mut response = ResponseBuilder::new()
            .description(*description)
            .content("application/json", json("Error"));
        if *status == "429" {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(i64::schema())
                    .description(Some("seconds"))
                    .build(),
            );
        }
        responses = responses.response(*status, response.build());
    }
    // Malformed input (400, 404, 405, 413, 414, 415, 422, 431) and a failing service behind the
    // gateway (502, 503, 504): the same error body.
    responses = responses.response("default", answer("an error", "Error"));
    let mut operation = OperationBuilder::new()
        .operation_id(Some(operation_id(route)))
        .responses(responses.build());
    if let Some(body) = body {
        operation = operation.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(body))
                .required(Some(Required::True))
                .build(),
        ));
    }
    for segment in route.public.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (schema, example): (RefOr<_>, _) = match name {
                "id" if route.public.starts_with("/api/users") => (i64::schema(), json!(1)),
                "sku" => (String::schema(), json!("widget")),
                _ => (String::schema(), json!("an order id")),
            };
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(schema))
                    .example(Some(example))
                    .build(),
            );
        }
    }
    if secured {
        operation = operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    operation.build()
}

/// `POST /api/orders` → `post_api_orders`.
fn operation_id(route: &Route) -> String {
    let path: String = route
        .public
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "{}{}",
        route.method.as_str().to_ascii_lowercase(),
        path.trim_end_matches('_')
    )
    .replace("__", "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_public_route_is_in_the_document_with_its_bodies() {
        let document = serde_json::to_value(document()).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        for route in &ROUTES {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &document["paths"][route.public][&method];
            assert!(operation.is_object(), "{} {}", route.method, route.public);
            assert!(operation["responses"]["default"].is_object());
        }
        assert!(
            document["components"]["schemas"]["OrderRequest"]["properties"]["items"].is_object()
        );
        assert_eq!(
            document["paths"]["/api/orders"]["post"]["security"][0]["bearer"],
            serde_json::json!([])
        );
    }
}
