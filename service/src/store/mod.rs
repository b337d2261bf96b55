//! Storage: tenants, API keys (hashes only), auth profiles and EC2 nonces.
//!
//! How it works: one implementation over `sqlx::AnyPool` serves SQLite (the
//! embedded default) and PostgreSQL (several replicas) with runtime queries
//! that both dialects accept (`$1` placeholders, TEXT and BIGINT columns,
//! `ON CONFLICT`, `RETURNING`). Migrations are embedded per dialect
//! (`service/migrations/{sqlite,postgres}`) and applied at connect time by
//! sqlx's own [`Migrator`] (checksums, `_sqlx_migrations`, PostgreSQL's advisory
//! lock so replicas starting together take turns). A database made by the
//! first, hand-rolled scheme (`schema_migrations`) is adopted in place. Every
//! method on tenant data takes the tenant first.

use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use sqlx::any::AnyPoolOptions;

use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

use crate::config::redact_url;
use crate::domain::{ProfileName, TenantId};

mod audit;
pub mod backup;
mod listen;
pub mod memo;
mod migrate;
mod rows;
pub use migrate::migrator;
use rows::{decode, parsed_column};
mod leases;
pub use audit::{AuditEvent, NewAuditEvent};
pub use leases::{LeaseRow, LeaseScope};
mod nonces;
mod offboard;
pub use offboard::{NoncePlace, Offboarded};
mod profiles;
mod retiring;
pub use retiring::RetiringToken;
mod tenants;
mod token_records;
pub use token_records::{TokenRecord, epoch, epoch_now, from_epoch};

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key exists already.
    #[error("already exists: {0}")]
    Conflict(String),
    /// A referenced row (like the tenant) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

fn map_err(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_string()),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what.to_string()),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        // SQLite busy or locked after its own busy timeout (5 s of retries): a
        // temporary condition, answered 503 with Retry-After rather than 500.
        sqlx::Error::Database(db) if sqlite_busy(db.code().as_deref(), db.message()) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
fn sqlite_busy(code: Option<&str>, message: &str) -> bool {
    let code = code.and_then(|c| c.parse::<i64>().ok()).map(|c| c & 0xff);
    matches!(code, Some(5 | 6)) || message.contains("database is locked") || message.contains("database is busy")
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// The AWS external id the service assigned (not a secret; never settable).
    pub aws_external_id: String,
    /// The operator's narrowing of the allowed Vault origins (None: the global list).
    pub vault_addresses: Option<Vec<String>>,
    /// The operator's narrowing of the method types `iam`, `ec2`, `jwt` (None: the default).
    pub methods: Option<Vec<String>>,
}

/// The operator's per-tenant grants (`PATCH /v1/tenants/{tenant}`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantGrants {
    /// Allowed Vault origins.
    pub vault_addresses: Option<Vec<String>>,
    /// Allowed method types.
    pub methods: Option<Vec<String>>,
}

/// An API key to store (the secret itself is never stored).
pub struct NewApiKey {
    /// Key id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// SHA-256 of the secret part.
    pub secret_sha256: [u8; 32],
}

/// An API key as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// Key id.
    pub id: String,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// What authentication needs about a key.
pub struct ApiKeyAuth {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Key id.
    pub key_id: String,
    /// The key's label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Stored SHA-256 of the secret part.
    pub secret_sha256: [u8; 32],
}

impl std::fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuth")
            .field("tenant_id", &self.tenant_id)
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A profile to store.
#[derive(Debug, Clone)]
pub struct NewProfile {
    /// Name.
    pub name: ProfileName,
    /// Normalized Vault address.
    pub vault_address: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Method block as sent.
    pub method: serde_json::Value,
    /// Test secret path.
    pub test_secret_path: Option<String>,
    /// The tenant's AWS role that `iam` logins assume.
    pub aws_role_arn: Option<String>,
    /// The opt-in secret cache (None: off).
    pub secret_cache: Option<crate::domain::SecretCachePolicy>,
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Name.
    pub name: ProfileName,
    /// Vault address.
    pub vault_address: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Method block, as the JSON text stored (compact: a parsed tree would cost
    /// kilobytes of memory per kept profile); [`ProfileRow::method_value`] parses it.
    pub method: String,
    /// Test secret path.
    pub test_secret_path: Option<String>,
    /// Revision.
    pub revision: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The tenant's AWS role that `iam` logins assume.
    pub aws_role_arn: Option<String>,
    /// The last test connection of this revision: (passed, RFC 3339 time).
    pub last_test: Option<(bool, String)>,
    /// The opt-in secret cache (None: off).
    pub secret_cache: Option<crate::domain::SecretCachePolicy>,
}

impl ProfileRow {
    /// The method block (the stored text was checked to be JSON when it was read).
    pub fn method_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.method).unwrap_or(serde_json::Value::Null)
    }
}

/// The key of an EC2 nonce.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonceKey {
    /// Normalized Vault address.
    pub vault_address: String,
    /// Namespace, "" for none.
    pub namespace: String,
    /// Mount path without trailing `/`.
    pub mount_path: String,
    /// EC2 instance id.
    pub instance_id: String,
}

/// A stored nonce.
#[derive(Debug, Clone)]
pub struct NonceRow {
    /// The nonce.
    pub value: SecretString,
    /// RFC 3339.
    pub created_at: String,
    /// Times it was reset.
    pub reset_count: i64,
    /// RFC 3339: the last login that used it.
    pub last_used_at: Option<String>,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// Keys, tenants and profiles in memory for the read path.
    memo: std::sync::Arc<memo::Memo>,
    /// The connection URL, for the change listener's own connection (may hold a password: never logged).
    url: std::sync::Arc<str>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

const PROFILE_COLUMNS: &str = "tenant_id, name, vault_address, namespace, method, test_secret_path, revision, created_at, updated_at, aws_role_arn, last_test_ok, last_test_at, secret_cache_ttl_secs, secret_cache_leased";

/// The two secret-cache columns of a profile.
fn secret_cache_columns(p: Option<crate::domain::SecretCachePolicy>) -> (Option<i64>, i64) {
    match p {
        None => (None, 0),
        Some(p) => (Some(i64::try_from(p.ttl.as_secs()).unwrap_or(i64::MAX)), i64::from(p.leased)),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Bind the four parts of a nonce key as `$1..$4`.
fn bind_key<'q>(q: AnyQuery<'q>, key: &NonceKey) -> AnyQuery<'q> {
    q.bind(key.vault_address.clone())
        .bind(key.namespace.clone())
        .bind(key.mount_path.clone())
        .bind(key.instance_id.clone())
}

fn scopes_from(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl Store {
    /// Connect to `sqlite://PATH` (folder and file created) or `postgres://...`, then migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let file = path.split('?').next().unwrap_or_default();
            if file.is_empty() || file == ":memory:" {
                return Err(StoreError::Unavailable("use a file path: sqlite://PATH".into()));
            }
            if let Some(parent) = std::path::Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
            }
            (Dialect::Sqlite, format!("sqlite://{file}?mode=rwc"))
        } else {
            (Dialect::Postgres, url.to_string())
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        if dialect == Dialect::Sqlite {
            options = options.max_connections(8).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            });
        } else {
            options = options.max_connections(16);
        }
        let pool =
            options.connect(&url).await.map_err(|e| StoreError::Unavailable(format!("{}: {e}", redact_url(&url))))?;
        let memo = std::sync::Arc::new(memo::Memo::new(dialect == Dialect::Postgres));
        let store = Store { pool, dialect, memo, url: url.as_str().into() };
        store.migrate().await?;
        Ok(store)
    }

    /// Check the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await.map(|_| ()).map_err(|e| map_err(e, "ping"))
    }

    /// Rows in memory, for the metrics: (keys, tenants, profiles).
    pub fn memo_sizes(&self) -> (u64, u64, u64) {
        self.memo.sizes()
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_busy;

    #[test]
    fn sqlite_busy_and_locked_are_temporary_and_other_errors_are_not() {
        assert!(sqlite_busy(Some("5"), "database is locked"));
        assert!(sqlite_busy(Some("517"), "database is busy"), "SQLITE_BUSY_SNAPSHOT is busy too");
        assert!(sqlite_busy(Some("6"), "database table is locked"));
        assert!(sqlite_busy(None, "(code: 5) database is locked"));
        assert!(!sqlite_busy(Some("19"), "UNIQUE constraint failed"));
        assert!(!sqlite_busy(Some("23505"), "duplicate key value violates unique constraint"));
    }
}
