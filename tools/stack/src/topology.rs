//! The six services in one table — binary (and `service.name`), the package that builds it, its
//! default port and the variable the others find it by — in start order, dependencies first.
//! The local stack, the test harness and the load tool all start the services from it.

/// One service of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The binary, and the `service.name` it reports.
    pub name: &'static str,
    /// The cargo package that builds it.
    pub package: &'static str,
    /// The port it listens on by default (compose's, and the local stack's).
    pub port: u16,
    /// The variable other services are given its URL in (the gateway has none: nothing calls it).
    pub url_var: Option<&'static str>,
}

const fn service(
    name: &'static str,
    package: &'static str,
    port: u16,
    url_var: Option<&'static str>,
) -> Service {
    Service {
        name,
        package,
        port,
        url_var,
    }
}

/// Every service, dependencies first.
pub const SERVICES: [Service; 6] = [
    service("auth-service", "auth", 8082, Some("AUTH_SERVICE_URL")),
    service("user-service", "user", 8081, Some("USER_SERVICE_URL")),
    service(
        "inventory-service",
        "inventory",
        8084,
        Some("INVENTORY_SERVICE_URL"),
    ),
    service(
        "payment-service",
        "payment",
        8085,
        Some("PAYMENT_SERVICE_URL"),
    ),
    service("order-service", "order", 8083, Some("ORDER_SERVICE_URL")),
    service("gateway", "gateway", 8080, None),
];

/// The services' names, in start order.
pub fn names() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().map(|service| service.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn an_order_trace_crosses_every_service_of_the_table() {
        let table: BTreeSet<&str> = names().collect();
        let checked: BTreeSet<&str> = tracecheck::ORDER_SERVICES.into_iter().collect();
        assert_eq!(table, checked);
    }
}
