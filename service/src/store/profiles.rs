//! Auth profiles, per tenant, with revisions.

use std::sync::Arc;

use super::memo::Change;
use super::*;
use crate::domain::{ProfileName, TenantId};

impl Store {
    /// Create a profile at revision 1 (Conflict when the name exists, NotFound without the tenant).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %p.name))]
    pub async fn create_profile(&self, tenant: &TenantId, p: &NewProfile) -> Result<ProfileRow, StoreError> {
        let ts = now();
        let q = format!(
            "INSERT INTO profiles (tenant_id, name, vault_address, namespace, method, test_secret_path, revision, created_at, updated_at, aws_role_arn, secret_cache_ttl_secs, secret_cache_leased) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8, $9, $10) RETURNING {PROFILE_COLUMNS}"
        );
        let (cache_ttl, cache_leased) = secret_cache_columns(p.secret_cache);
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(p.name.as_str())
            .bind(&p.vault_address)
            .bind(p.namespace.clone())
            .bind(p.method.to_string())
            .bind(p.test_secret_path.clone())
            .bind(&ts)
            .bind(p.aws_role_arn.clone())
            .bind(cache_ttl)
            .bind(cache_leased)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(e, &format!("profile {} of tenant {tenant}", p.name)))?;
        self.announce(Change::Profile(tenant.clone(), p.name.clone())).await;
        decode(&row)
    }

    /// Profiles of tenants other than `tenant` that log in to `vault_address`:
    /// the one deliberate cross-tenant query, used only to tell whether an EC2
    /// nonce is shared (its rows are never shown to the caller).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn other_tenants_profiles_at(
        &self,
        tenant: &TenantId,
        vault_address: &str,
    ) -> Result<Vec<ProfileRow>, StoreError> {
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE vault_address = $1 AND tenant_id <> $2");
        let rows = sqlx::query(AssertSqlSafe(q))
            .bind(vault_address)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "profiles"))?;
        rows.iter().map(decode).collect()
    }

    /// Note the outcome of a test connection of this revision.
    pub async fn record_test(
        &self,
        tenant: &TenantId,
        name: &ProfileName,
        revision: i64,
        ok: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE profiles SET last_test_ok = $4, last_test_at = $5 WHERE tenant_id = $1 AND name = $2 AND revision = $3",
        )
        .bind(tenant.as_str())
        .bind(name.as_str())
        .bind(revision)
        .bind(i64::from(ok))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "profile"))?;
        self.announce(Change::Profile(tenant.clone(), name.clone())).await;
        Ok(())
    }

    /// The profiles of `tenant`, by name.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn list_profiles(&self, tenant: &TenantId) -> Result<Vec<ProfileRow>, StoreError> {
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant_id = $1 ORDER BY name");
        let rows = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "profiles"))?;
        rows.iter().map(decode).collect()
    }

    /// One profile of `tenant`.
    pub async fn get_profile(&self, tenant: &TenantId, name: &ProfileName) -> Result<Option<ProfileRow>, StoreError> {
        Ok(self.profile_shared(tenant, name).await?.map(|p| (*p).clone()))
    }

    /// One profile of `tenant`, from memory when it is there (see [`super::memo`]).
    pub async fn profile_shared(
        &self,
        tenant: &TenantId,
        name: &ProfileName,
    ) -> Result<Option<Arc<ProfileRow>>, StoreError> {
        self.memo.profile(tenant, name, self.fetch_profile(tenant, name)).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    async fn fetch_profile(&self, tenant: &TenantId, name: &ProfileName) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant_id = $1 AND name = $2");
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        row.as_ref().map(decode).transpose()
    }

    /// Replace every field of a profile of `tenant`; revision +1 in the same statement.
    /// With `expected`, only if the stored revision is that one (an atomic
    /// compare-and-set: None when it is not, or when there is no such profile).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    pub async fn replace_profile(
        &self,
        tenant: &TenantId,
        name: &ProfileName,
        expected: Option<i64>,
        p: &NewProfile,
    ) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!(
            "UPDATE profiles SET vault_address = $3, namespace = $4, method = $5, test_secret_path = $6, \
             revision = revision + 1, updated_at = $7, aws_role_arn = $8, last_test_ok = NULL, last_test_at = NULL, \
             secret_cache_ttl_secs = $10, secret_cache_leased = $11 \
             WHERE tenant_id = $1 AND name = $2 AND ($9 < 0 OR revision = $9) RETURNING {PROFILE_COLUMNS}"
        );
        let (cache_ttl, cache_leased) = secret_cache_columns(p.secret_cache);
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(name.as_str())
            .bind(&p.vault_address)
            .bind(p.namespace.clone())
            .bind(p.method.to_string())
            .bind(p.test_secret_path.clone())
            .bind(now())
            .bind(p.aws_role_arn.clone())
            .bind(expected.unwrap_or(-1))
            .bind(cache_ttl)
            .bind(cache_leased)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        self.announce(Change::Profile(tenant.clone(), name.clone())).await;
        row.as_ref().map(decode).transpose()
    }

    /// Delete a profile of `tenant`, returning it. Nonces stay (they belong to host and mount).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %name))]
    pub async fn delete_profile(
        &self,
        tenant: &TenantId,
        name: &ProfileName,
    ) -> Result<Option<ProfileRow>, StoreError> {
        let q = format!("DELETE FROM profiles WHERE tenant_id = $1 AND name = $2 RETURNING {PROFILE_COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "profile"))?;
        self.announce(Change::Profile(tenant.clone(), name.clone())).await;
        row.as_ref().map(decode).transpose()
    }
}
