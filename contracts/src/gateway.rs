//! gateway: the public edge. Its routes are the public API (the gateway's OpenAPI document); what
//! other services need of it is its name, to admit its calls.

/// The `service.name` of the gateway, and the name its calls are signed with.
pub const SERVICE_NAME: &str = "gateway";
