//! The database hop: a CLIENT span around each sqlx call, with the `db.*` semantic-convention
//! attributes and, when the call fails, its status and error code.
//!
//! ```no_run
//! # async fn profile(pool: &sqlx::SqlitePool) -> sqlx::Result<()> {
//! let select = sqlx::query("SELECT email FROM profiles WHERE id = ?").bind(1).fetch_optional(pool);
//! let row = shared_tracing::db::query("SELECT", "profiles", select).await?;
//! # Ok(()) }
//! ```

use tracing::{Instrument, field::Empty};

/// Runs one database call inside a CLIENT span named `{operation} {collection}`
/// (`SELECT users`), marking the span as failed when the call fails: status Error with the
/// message, `error.type` and, for an error SQLite reported, `db.response.status_code`. Work that
/// is not sampled (or a process without an SDK) runs the call without a span.
pub async fn query<T>(
    operation: &'static str,
    collection: &'static str,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    if !crate::spans::makes_spans() {
        return call.await;
    }
    let span = tracing::info_span!(
        "db query",
        otel.name = format!("{operation} {collection}"),
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_description = Empty,
        db.system.name = "sqlite",
        db.operation.name = operation,
        db.collection.name = collection,
        db.response.status_code = Empty,
        error.type = Empty,
    );
    let result = call.instrument(span.clone()).await;
    if let Err(error) = &result {
        span.record("otel.status_code", "error");
        span.record("otel.status_description", error.to_string());
        let code = match error {
            sqlx::Error::Database(database) => database.code().map(|code| code.into_owned()),
            _ => None,
        };
        if let Some(code) = &code {
            span.record("db.response.status_code", code.as_str());
        }
        span.record("error.type", code.as_deref().unwrap_or(error_type(error)));
    }
    result
}

/// A low-cardinality name for an error that is not SQLite's own.
fn error_type(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
        sqlx::Error::Database(_) => "database",
        _ => "other",
    }
}
