//! How rows are decoded: sqlx's [`FromRow`] over [`AnyRow`], one impl per row
//! type (as `LeaseRow` does), and [`decode`] for the store's error. A column
//! whose text does not say what it should (JSON, hex) is [`Malformed`], and its
//! message reaches the log as it always did.

use std::time::Duration;

use secrecy::SecretString;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::{ApiKeyAuth, ApiKeyRow, AuditEvent, NonceRow, ProfileRow, StoreError, TenantRow, scopes_from};
use crate::domain::{ProfileName, SecretCachePolicy, TenantId};

/// A column's text that does not say what it should, with what is wrong.
#[derive(Debug)]
struct Malformed(String);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Malformed {}

fn malformed(message: String) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(Malformed(message)))
}

/// Decode one row; any failure is [`StoreError::Database`].
pub(super) fn decode<T: for<'r> FromRow<'r, AnyRow>>(row: &AnyRow) -> Result<T, StoreError> {
    T::from_row(row).map_err(|e| match e {
        sqlx::Error::Decode(inner) => match inner.downcast::<Malformed>() {
            Ok(m) => StoreError::Database(m.0),
            Err(inner) => StoreError::Database(sqlx::Error::Decode(inner).to_string()),
        },
        other => StoreError::Database(other.to_string()),
    })
}

/// A JSON list kept as text (`None`: no narrowing).
fn json_list(r: &AnyRow, column: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
    match r.try_get::<Option<String>, _>(column)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| malformed(format!("{column}: {e}"))),
    }
}

/// A text column parsed into its type (a tenant id, a profile name, a Vault
/// address); one that does not parse reads as [`Malformed`].
pub(super) fn parsed_column<T, E: std::fmt::Display>(
    r: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, sqlx::Error> {
    parse(&r.try_get::<String, _>(column)?).map_err(|e| malformed(format!("{column}: {e}")))
}

impl<'r> FromRow<'r, AnyRow> for TenantRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: parsed_column(r, "id", TenantId::parse)?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            aws_external_id: r.try_get::<Option<String>, _>("aws_external_id")?.unwrap_or_default(),
            vault_addresses: json_list(r, "vault_addresses")?,
            methods: json_list(r, "methods")?,
        })
    }
}

impl<'r> FromRow<'r, AnyRow> for ApiKeyRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            tenant_id: parsed_column(r, "tenant_id", TenantId::parse)?,
            name: r.try_get("name")?,
            scopes: scopes_from(&r.try_get::<String, _>("scopes")?),
            created_at: r.try_get("created_at")?,
        })
    }
}

impl<'r> FromRow<'r, AnyRow> for ApiKeyAuth {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(r.try_get::<String, _>("secret_sha256")?, &mut hash)
            .map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            tenant_id: parsed_column(r, "tenant_id", TenantId::parse)?,
            key_id: r.try_get("id")?,
            name: r.try_get("name")?,
            scopes: scopes_from(&r.try_get::<String, _>("scopes")?),
            secret_sha256: hash,
        })
    }
}

impl<'r> FromRow<'r, AnyRow> for ProfileRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let method: String = r.try_get("method")?;
        Ok(Self {
            tenant_id: parsed_column(r, "tenant_id", TenantId::parse)?,
            name: parsed_column(r, "name", ProfileName::parse)?,
            vault_address: r.try_get("vault_address")?,
            namespace: r.try_get("namespace")?,
            method: {
                // The method block is kept as its JSON text; it must at least be JSON.
                serde_json::from_str::<serde::de::IgnoredAny>(&method)
                    .map_err(|e| malformed(format!("stored method: {e}")))?;
                method
            },
            test_secret_path: r.try_get("test_secret_path")?,
            revision: r.try_get("revision")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            aws_role_arn: r.try_get("aws_role_arn")?,
            last_test: match (
                r.try_get::<Option<i64>, _>("last_test_ok")?,
                r.try_get::<Option<String>, _>("last_test_at")?,
            ) {
                (Some(ok), Some(at)) => Some((ok != 0, at)),
                _ => None,
            },
            secret_cache: match r.try_get::<Option<i64>, _>("secret_cache_ttl_secs")? {
                Some(secs) if secs > 0 => Some(SecretCachePolicy {
                    ttl: Duration::from_secs(secs.unsigned_abs()),
                    leased: r.try_get::<i64, _>("secret_cache_leased")? != 0,
                }),
                _ => None,
            },
        })
    }
}

impl<'r> FromRow<'r, AnyRow> for NonceRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            value: SecretString::from(r.try_get::<String, _>("nonce")?),
            created_at: r.try_get("created_at")?,
            reset_count: r.try_get("reset_count")?,
            last_used_at: r.try_get("last_used_at")?,
        })
    }
}

impl<'r> FromRow<'r, AnyRow> for AuditEvent {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            at: r.try_get("at")?,
            request_id: r.try_get("request_id")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            profile: r.try_get("profile")?,
            path: r.try_get("path")?,
            outcome: r.try_get("outcome")?,
            duration_ms: r.try_get("duration_ms")?,
        })
    }
}
