//! The profiles table.

use contracts::user::Profile;
use shared_tracing::db;
use sqlx::SqlitePool;

/// The profile of user `id`.
pub(crate) async fn profile(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<Profile>> {
    let select = sqlx::query_as::<_, (i64, String, String, String)>(
        "SELECT id, username, email, full_name FROM profiles WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool);
    let row = db::query("SELECT", "profiles", select).await?;
    Ok(row.map(|(id, username, email, full_name)| Profile {
        id,
        username,
        email,
        full_name,
    }))
}
