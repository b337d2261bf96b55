//! Tenants and their API keys (hashes only).

use std::sync::Arc;

use super::memo::Change;
use super::*;
use crate::domain::TenantId;

const TENANT_SELECT_ALL: &str =
    "SELECT id, name, created_at, aws_external_id, vault_addresses, methods FROM tenants ORDER BY id";
const TENANT_SELECT_ONE: &str =
    "SELECT id, name, created_at, aws_external_id, vault_addresses, methods FROM tenants WHERE id = $1";

impl Store {
    /// Create a tenant with a fresh AWS external id; Conflict if the id exists.
    #[tracing::instrument(skip_all, fields(tenant = %id))]
    pub async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<TenantRow, StoreError> {
        let created_at = now();
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Database(format!("random source: {e}")))?;
        let aws_external_id = hex::encode(bytes);
        sqlx::query("INSERT INTO tenants (id, name, created_at, aws_external_id) VALUES ($1, $2, $3, $4)")
            .bind(id.as_str())
            .bind(name)
            .bind(&created_at)
            .bind(&aws_external_id)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, &format!("tenant {id}")))?;
        self.announce(Change::Tenant(id.clone())).await;
        Ok(TenantRow {
            id: id.clone(),
            name: name.to_string(),
            created_at,
            aws_external_id,
            vault_addresses: None,
            methods: None,
        })
    }

    /// All tenants, ordered by id.
    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let rows = sqlx::query(TENANT_SELECT_ALL).fetch_all(&self.pool).await.map_err(|e| map_err(e, "tenants"))?;
        rows.iter().map(decode).collect()
    }

    /// One tenant.
    pub async fn get_tenant(&self, tenant: &TenantId) -> Result<Option<TenantRow>, StoreError> {
        Ok(self.tenant_shared(tenant).await?.map(|t| (*t).clone()))
    }

    /// One tenant, from memory when it is there (see [`super::memo`]).
    pub async fn tenant_shared(&self, tenant: &TenantId) -> Result<Option<Arc<TenantRow>>, StoreError> {
        self.memo.tenant(tenant, self.fetch_tenant(tenant)).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn fetch_tenant(&self, tenant: &TenantId) -> Result<Option<TenantRow>, StoreError> {
        let row = sqlx::query(TENANT_SELECT_ONE)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "tenant"))?;
        row.as_ref().map(decode).transpose()
    }

    /// Set the operator's grants of a tenant (fields left `None` stay); None when there is no such tenant.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn update_tenant_grants(
        &self,
        tenant: &TenantId,
        grants: &TenantGrants,
    ) -> Result<Option<TenantRow>, StoreError> {
        let json = |v: &Option<Vec<String>>| v.as_ref().map(|v| serde_json::Value::from(v.clone()).to_string());
        let done = sqlx::query(
            "UPDATE tenants SET vault_addresses = CASE WHEN $2 THEN $3 ELSE vault_addresses END, \
             methods = CASE WHEN $4 THEN $5 ELSE methods END WHERE id = $1",
        )
        .bind(tenant.as_str())
        .bind(grants.vault_addresses.is_some())
        .bind(json(&grants.vault_addresses))
        .bind(grants.methods.is_some())
        .bind(json(&grants.methods))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "tenant"))?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.announce(Change::Tenant(tenant.clone())).await;
        self.get_tenant(tenant).await
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
        self.announce(Change::Key(key.id.clone())).await;
        Ok(ApiKeyRow {
            id: key.id.clone(),
            tenant_id: tenant.clone(),
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
        rows.iter().map(decode).collect()
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
        self.announce(Change::Key(key_id.to_string())).await;
        Ok(done.rows_affected() > 0)
    }

    /// Authentication lookup by key id: the one lookup not scoped by tenant,
    /// because the key id is what identifies the tenant.
    /// From memory when it is there (see [`super::memo`]).
    pub async fn api_key_for_auth(&self, key_id: &str) -> Result<Option<Arc<ApiKeyAuth>>, StoreError> {
        self.memo.key(key_id, self.fetch_api_key(key_id)).await
    }

    async fn fetch_api_key(&self, key_id: &str) -> Result<Option<ApiKeyAuth>, StoreError> {
        let row = sqlx::query("SELECT id, tenant_id, name, scopes, secret_sha256 FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "api key"))?;
        row.as_ref().map(decode).transpose()
    }
}
