//! Tenants and their API keys (hashes only).

use sqlx::Row;

use super::*;
use crate::domain::TenantId;

impl Store {
    /// Create a tenant; Conflict if the id exists.
    #[tracing::instrument(skip_all, fields(tenant = %id))]
    pub async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<TenantRow, StoreError> {
        let created_at = now();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
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
    pub async fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let row: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "tenant"))?;
        Ok(row.is_some())
    }

    /// Store a key of `tenant` (NotFound when the tenant does not exist).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn insert_api_key(&self, tenant: &TenantId, key: &NewApiKey) -> Result<ApiKeyRow, StoreError> {
        let created_at = now();
        let scopes = key.scopes.join(",");
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(tenant.as_str())
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
    pub async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, scopes, created_at FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
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
    pub async fn delete_api_key(&self, tenant: &TenantId, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
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
}
