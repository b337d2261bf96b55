//! Storage: tenants, API keys (hashes only), auth profiles and EC2 nonces.
//!
//! How it works: one implementation over `sqlx::AnyPool` serves SQLite (the
//! embedded default) and PostgreSQL (several replicas) with runtime queries
//! that both dialects accept (`$1` placeholders, TEXT and BIGINT columns,
//! `ON CONFLICT`, `RETURNING`). Migrations are embedded per dialect
//! (`service/migrations/{sqlite,postgres}`) and applied at connect time in
//! order, each in its own transaction, recorded in `schema_migrations`. Every
//! method on tenant data takes the tenant first.

use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

use crate::config::redact_url;

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Embedded migrations: (version, SQLite text, PostgreSQL text).
const MIGRATIONS: [(i64, &str, &str); 2] = [
    (1, include_str!("../../migrations/sqlite/0001_init.sql"), include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_ec2_nonces.sql"),
        include_str!("../../migrations/postgres/0002_ec2_nonces.sql"),
    ),
];

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
        _ => StoreError::Database(e.to_string()),
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
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
    pub tenant_id: String,
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
    pub tenant_id: String,
    /// Key id.
    pub key_id: String,
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
    pub name: String,
    /// Normalized Vault address.
    pub vault_address: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Method block as sent.
    pub method: serde_json::Value,
    /// Test secret path.
    pub test_secret_path: Option<String>,
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// Tenant.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// Vault address.
    pub vault_address: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Method block.
    pub method: serde_json::Value,
    /// Test secret path.
    pub test_secret_path: Option<String>,
    /// Revision.
    pub revision: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
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
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

const PROFILE_COLUMNS: &str =
    "tenant_id, name, vault_address, namespace, method, test_secret_path, revision, created_at, updated_at";

fn profile(row: &AnyRow) -> Result<ProfileRow, StoreError> {
    let get = |c: &str| row.try_get::<String, _>(c).map_err(|e| StoreError::Database(e.to_string()));
    let method_text = get("method")?;
    Ok(ProfileRow {
        tenant_id: get("tenant_id")?,
        name: get("name")?,
        vault_address: get("vault_address")?,
        namespace: row.try_get::<Option<String>, _>("namespace").map_err(|e| StoreError::Database(e.to_string()))?,
        method: serde_json::from_str(&method_text).map_err(|e| StoreError::Database(format!("stored method: {e}")))?,
        test_secret_path: row
            .try_get::<Option<String>, _>("test_secret_path")
            .map_err(|e| StoreError::Database(e.to_string()))?,
        revision: row.try_get::<i64, _>("revision").map_err(|e| StoreError::Database(e.to_string()))?,
        created_at: get("created_at")?,
        updated_at: get("updated_at")?,
    })
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

fn nonce(row: &AnyRow) -> Result<NonceRow, StoreError> {
    Ok(NonceRow {
        value: SecretString::from(row.try_get::<String, _>("nonce").map_err(|e| StoreError::Database(e.to_string()))?),
        created_at: row.try_get::<String, _>("created_at").map_err(|e| StoreError::Database(e.to_string()))?,
        reset_count: row.try_get::<i64, _>("reset_count").map_err(|e| StoreError::Database(e.to_string()))?,
    })
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
        let store = Store { pool, dialect };
        store.migrate().await?;
        Ok(store)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let e = |e: sqlx::Error| map_err(e, "migration");
        for (version, sqlite, postgres) in MIGRATIONS {
            let mut tx = self.pool.begin().await.map_err(e)?;
            if self.dialect == Dialect::Postgres {
                // Replicas starting at once take turns (the lock ends with the transaction).
                tx.execute("SELECT pg_advisory_xact_lock(7461626)").await.map_err(e)?;
            }
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
            .await
            .map_err(e)?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(e)?;
            if done.is_some() {
                tx.commit().await.map_err(e)?;
                continue;
            }
            let sql = if self.dialect == Dialect::Sqlite { sqlite } else { postgres };
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(e)?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(e)?;
            tx.commit().await.map_err(e)?;
            tracing::info!(version, "database migration applied");
        }
        Ok(())
    }

    /// Check the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await.map(|_| ()).map_err(|e| map_err(e, "ping"))
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Create a tenant; Conflict if the id exists.
    #[tracing::instrument(skip_all, fields(tenant = %id))]
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<TenantRow, StoreError> {
        let created_at = now();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(&created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, &format!("tenant {id}")))?;
        Ok(TenantRow { id: id.to_string(), name: name.to_string(), created_at })
    }

    /// All tenants, ordered by id.
    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "tenants"))?;
        rows.iter()
            .map(|r| {
                Ok(TenantRow {
                    id: r.try_get("id").map_err(|e| StoreError::Database(e.to_string()))?,
                    name: r.try_get("name").map_err(|e| StoreError::Database(e.to_string()))?,
                    created_at: r.try_get("created_at").map_err(|e| StoreError::Database(e.to_string()))?,
                })
            })
            .collect()
    }

    /// Whether the tenant exists.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        let row: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "tenant"))?;
        Ok(row.is_some())
    }

    /// Store a key of `tenant` (NotFound when the tenant does not exist).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn insert_api_key(&self, tenant: &str, key: &NewApiKey) -> Result<ApiKeyRow, StoreError> {
        let created_at = now();
        let scopes = key.scopes.join(",");
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(tenant)
        .bind(&key.name)
        .bind(&scopes)
        .bind(hex::encode(key.secret_sha256))
        .bind(&created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, &format!("tenant {tenant}")))?;
        Ok(ApiKeyRow {
            id: key.id.clone(),
            tenant_id: tenant.to_string(),
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            created_at,
        })
    }

    /// The keys of `tenant`, oldest first.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn list_api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, scopes, created_at FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err(e, "api keys"))?;
        rows.iter()
            .map(|r| {
                let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| StoreError::Database(e.to_string()));
                Ok(ApiKeyRow {
                    id: g("id")?,
                    tenant_id: g("tenant_id")?,
                    name: g("name")?,
                    scopes: scopes_from(&g("scopes")?),
                    created_at: g("created_at")?,
                })
            })
            .collect()
    }

    /// Delete a key of `tenant`; false when `tenant` has no such key.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn delete_api_key(&self, tenant: &str, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(key_id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "api key"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Authentication lookup by key id: the one lookup not scoped by tenant,
    /// because the key id is what identifies the tenant.
    pub async fn api_key_for_auth(&self, key_id: &str) -> Result<Option<ApiKeyAuth>, StoreError> {
        let row = sqlx::query("SELECT id, tenant_id, scopes, secret_sha256 FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "api key"))?;
        let Some(r) = row else { return Ok(None) };
        let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| StoreError::Database(e.to_string()));
        let mut hash = [0u8; 32];
        hex::decode_to_slice(g("secret_sha256")?, &mut hash).map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Some(ApiKeyAuth {
            tenant_id: g("tenant_id")?,
            key_id: g("id")?,
            scopes: scopes_from(&g("scopes")?),
            secret_sha256: hash,
        }))
    }

    /// Create a profile at revision 1 (Conflict when the name exists, NotFound without the tenant).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %p.name))]
    pub async fn create_profile(&self, tenant: &str, p: &NewProfile) -> Result<ProfileRow, StoreError> {
        let ts = now();
        let q = format!(
            "INSERT INTO profiles ({PROFILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING {PROFILE_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant)
            .bind(&p.name)
            .bind(&p.vault_address)
            .bind(p.namespace.clone())
            .bind(p.method.to_string())
            .bind(p.test_secret_path.clone())
            .bind(&ts)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(e, &format!("profile {} of tenant {tenant}", p.name)))?;
        profile(&row)
    }

    /// The profiles of `tenant`, by name.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn list_profiles(&self, tenant: &str) -> Result<Vec<ProfileRow>, StoreError> {
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant_id = $1 ORDER BY name");
        let rows = sqlx::query(AssertSqlSafe(q))
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "profiles"))?;
        rows.iter().map(profile).collect()
    }

    /// One profile of `tenant`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    pub async fn get_profile(&self, tenant: &str, name: &str) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant_id = $1 AND name = $2");
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        row.as_ref().map(profile).transpose()
    }

    /// Replace every field of a profile of `tenant`; revision +1 in the same statement.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    pub async fn replace_profile(
        &self,
        tenant: &str,
        name: &str,
        p: &NewProfile,
    ) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!(
            "UPDATE profiles SET vault_address = $3, namespace = $4, method = $5, test_secret_path = $6, \
             revision = revision + 1, updated_at = $7 WHERE tenant_id = $1 AND name = $2 RETURNING {PROFILE_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant)
            .bind(name)
            .bind(&p.vault_address)
            .bind(p.namespace.clone())
            .bind(p.method.to_string())
            .bind(p.test_secret_path.clone())
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        row.as_ref().map(profile).transpose()
    }

    /// Delete a profile of `tenant`, returning it. Nonces stay (they belong to host and mount).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    pub async fn delete_profile(&self, tenant: &str, name: &str) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!("DELETE FROM profiles WHERE tenant_id = $1 AND name = $2 RETURNING {PROFILE_COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        row.as_ref().map(profile).transpose()
    }

    /// The nonce for `key`, inserting `candidate` when there is none yet. The
    /// unique key makes racing first logins end up with one stored value.
    pub async fn nonce_get_or_create(&self, key: &NonceKey, candidate: &SecretString) -> Result<NonceRow, StoreError> {
        bind_key(
            sqlx::query(
                "INSERT INTO ec2_nonces (vault_address, namespace, mount_path, instance_id, nonce, created_at, reset_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0) \
                 ON CONFLICT (vault_address, namespace, mount_path, instance_id) DO NOTHING",
            ),
            key,
        )
        .bind(candidate.expose_secret())
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        self.nonce_get(key).await?.ok_or_else(|| StoreError::Database("the ec2 nonce vanished after insert".into()))
    }

    /// The nonce for `key`, if any.
    pub async fn nonce_get(&self, key: &NonceKey) -> Result<Option<NonceRow>, StoreError> {
        let row = bind_key(
            sqlx::query(
                "SELECT nonce, created_at, reset_count FROM ec2_nonces \
                 WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3 AND instance_id = $4",
            ),
            key,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        row.as_ref().map(nonce).transpose()
    }

    /// Replace the nonce for `key` (or create it), counting resets.
    pub async fn nonce_reset(&self, key: &NonceKey, new_value: &SecretString) -> Result<NonceRow, StoreError> {
        bind_key(
            sqlx::query(
                "INSERT INTO ec2_nonces (vault_address, namespace, mount_path, instance_id, nonce, created_at, reset_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1) \
                 ON CONFLICT (vault_address, namespace, mount_path, instance_id) \
                 DO UPDATE SET nonce = excluded.nonce, created_at = excluded.created_at, reset_count = ec2_nonces.reset_count + 1",
            ),
            key,
        )
        .bind(new_value.expose_secret())
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        self.nonce_get(key).await?.ok_or_else(|| StoreError::Database("the ec2 nonce vanished after reset".into()))
    }

    /// How many nonce rows exist for a key (tests and diagnostics).
    pub async fn nonce_rows(&self, key: &NonceKey) -> Result<i64, StoreError> {
        let row = bind_key(
            sqlx::query(
                "SELECT COUNT(*) AS n FROM ec2_nonces \
                 WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3 AND instance_id = $4",
            ),
            key,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| map_err(e, "ec2 nonce"))?;
        row.try_get::<i64, _>("n").map_err(|e| StoreError::Database(e.to_string()))
    }
}
