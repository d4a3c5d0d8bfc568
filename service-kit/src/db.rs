//! SQLite pools as every service opens them, and the two calls every service makes on them: a
//! health ping and a write transaction. Each query's CLIENT span is the kit's
//! ([`shared_tracing::db::query`]).

use sqlx::{
    Sqlite, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions},
};
use std::{str::FromStr, time::Duration};

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
    let select = sqlx::query("SELECT 1").execute(pool);
    shared_tracing::db::query("SELECT", "sqlite_schema", select)
        .await
        .map(|_| ())
}

/// Starts a write transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so
/// concurrent writers wait for each other (up to the busy timeout) instead of failing with
/// "database is locked" when a read inside the transaction turns into a write.
pub async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
