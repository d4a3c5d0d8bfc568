//! The profiles table.

use serde::Serialize;
use service_kit::db;
use sqlx::{FromRow, SqlitePool};

/// A user profile as stored and served.
#[derive(Debug, Serialize, FromRow)]
pub(crate) struct Profile {
    id: i64,
    username: String,
    email: String,
    full_name: String,
}

pub(crate) async fn profile(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<Profile>> {
    let select = sqlx::query_as("SELECT id, username, email, full_name FROM profiles WHERE id = ?")
        .bind(id)
        .fetch_optional(pool);
    db::query("SELECT", "profiles", select).await
}
