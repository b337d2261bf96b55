//! `auth-service backup --to FILE`: an online, consistent copy of a SQLite
//! database (`VACUUM INTO`, which reads one snapshot while the service keeps
//! writing). PostgreSQL has its own tools (`pg_dump`).

use std::path::Path;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use super::StoreError;
use crate::config::redact_url;

/// Copy the SQLite database at `url` to `to` (which must not exist yet); the copy's size in bytes.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<u64, StoreError> {
    let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return Err(StoreError::Unavailable(format!(
            "{} is not SQLite: back up PostgreSQL with pg_dump (see docs/operations.md)",
            redact_url(url)
        )));
    };
    let file = path.split('?').next().unwrap_or_default();
    if !Path::new(file).is_file() {
        return Err(StoreError::NotFound(format!("no SQLite database at {file}")));
    }
    if to.exists() {
        return Err(StoreError::Conflict(format!("{} exists already; name a new file", to.display())));
    }
    let target = to.to_str().ok_or_else(|| StoreError::Unavailable("the target path is not UTF-8".into()))?;
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .after_connect(|conn, _| Box::pin(async move { conn.execute("PRAGMA busy_timeout = 5000").await.map(|_| ()) }))
        .connect(&format!("sqlite://{file}?mode=ro"))
        .await
        .map_err(|e| StoreError::Unavailable(format!("{file}: {e}")))?;
    let copied = sqlx::query("VACUUM INTO $1").bind(target).execute(&pool).await;
    pool.close().await;
    copied.map_err(|e| StoreError::Database(format!("VACUUM INTO {}: {e}", to.display())))?;
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
}
