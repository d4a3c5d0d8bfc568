//! SQLite pools and CLIENT spans for database calls, with the `db.*` semantic-convention
//! attributes.

use sqlx::{
    Sqlite, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions},
};
use std::{str::FromStr, time::Duration};
use tracing::{Instrument, field::Empty};

/// Runs one database call inside a CLIENT span named `{operation} {collection}`
/// (`SELECT users`), marking the span as failed when the call fails: status Error with the
/// message, `error.type` and, for an error SQLite reported, `db.response.status_code`.
pub async fn query<T>(
    operation: &'static str,
    collection: &'static str,
    call: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
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

/// Opens (creating if needed) the SQLite database at `url`, e.g. `sqlite:orders.db` or
/// `sqlite::memory:`. Run the service's migrations on the pool afterwards.
pub async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    // Every connection to `:memory:` is a database of its own: keep one.
    let max_connections = if options.get_filename().as_os_str() == ":memory:" {
        1
    } else {
        5
    };
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .connect_with(options)
        .await
}

/// A trivial query: the database answers (for `/healthz`).
pub async fn ping(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    query(
        "SELECT",
        "sqlite_schema",
        sqlx::query("SELECT 1").execute(pool),
    )
    .await
    .map(|_| ())
}

/// Starts a write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so
/// concurrent writers wait for each other (up to the busy timeout) instead of failing with
/// "database is locked" when a read inside the transaction turns into a write.
pub async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
