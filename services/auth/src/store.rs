//! The users table.

use shared_tracing::db;
use sqlx::{FromRow, SqlitePool};

/// A user's credentials as stored.
#[derive(FromRow)]
pub(crate) struct Credentials {
    pub(crate) id: i64,
    pub(crate) password_hash: String,
}

pub(crate) async fn credentials(
    pool: &SqlitePool,
    username: &str,
) -> sqlx::Result<Option<Credentials>> {
    let select = sqlx::query_as("SELECT id, password_hash FROM users WHERE username = ?")
        .bind(username)
        .fetch_optional(pool);
    db::query("SELECT", "users", select).await
}
