//! Leases issued through a profile (dynamic secrets), per tenant. A lease is
//! keyed by where it came from ([`LeaseScope`]: tenant, profile, Vault address,
//! namespace) and its id: ids are unique only on the Vault that issued them.

use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::*;
use crate::domain::secret_path::LeaseId;
use crate::domain::{ProfileName, TenantId, VaultAddress};

/// Where a lease (or the token that issued it) belongs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseScope {
    /// The tenant.
    pub tenant: TenantId,
    /// The profile.
    pub profile: ProfileName,
    /// The Vault that issued it.
    pub address: VaultAddress,
    /// Its namespace (None: the root).
    pub namespace: Option<String>,
}

impl LeaseScope {
    fn namespace_column(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Vault's lease id.
    pub lease_id: String,
    /// The accessor of the token that issued it (not a secret).
    pub token_accessor: String,
    /// RFC 3339: the honest end (the earlier of the lease's and its token's).
    pub expires_at: String,
}

impl<'r> sqlx::FromRow<'r, AnyRow> for LeaseRow {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            lease_id: r.try_get("lease_id")?,
            token_accessor: r.try_get("token_accessor")?,
            expires_at: r.try_get("expires_at")?,
        })
    }
}

/// Bind a lease's key: `$1` to `$5` are tenant, profile, Vault address, namespace and lease id.
fn bind_key<'q>(query: AnyQuery<'q>, scope: &'q LeaseScope, lease_id: &'q str) -> AnyQuery<'q> {
    query
        .bind(scope.tenant.as_str())
        .bind(scope.profile.as_str())
        .bind(scope.address.as_str())
        .bind(scope.namespace_column())
        .bind(lease_id)
}

impl Store {
    /// Record a lease issued through a profile (a renewed record keeps its row, with the new end).
    #[tracing::instrument(skip_all, fields(tenant = %scope.tenant, profile = %scope.profile))]
    pub async fn insert_lease(&self, scope: &LeaseScope, lease: &LeaseRow) -> Result<(), StoreError> {
        let query = sqlx::query(
            "INSERT INTO leases (tenant_id, profile_name, vault_address, namespace, lease_id, token_accessor, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, profile_name, vault_address, namespace, lease_id) \
             DO UPDATE SET expires_at = $7, token_accessor = $6",
        );
        bind_key(query, scope, &lease.lease_id)
            .bind(&lease.token_accessor)
            .bind(&lease.expires_at)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "lease"))?;
        Ok(())
    }

    /// A lease, only if it was issued through this profile at this Vault.
    #[tracing::instrument(skip_all, fields(tenant = %scope.tenant, profile = %scope.profile))]
    pub async fn get_lease(&self, scope: &LeaseScope, lease_id: &LeaseId) -> Result<Option<LeaseRow>, StoreError> {
        let query = sqlx::query(
            "SELECT lease_id, token_accessor, expires_at FROM leases \
             WHERE tenant_id = $1 AND profile_name = $2 AND vault_address = $3 AND namespace = $4 AND lease_id = $5",
        );
        let row = bind_key(query, scope, lease_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "lease"))?;
        row.map(|r| LeaseRow::from_row(&r).map_err(|e| map_err(e, "lease"))).transpose()
    }

    /// The leases of a profile that have not ended, soonest end first (at most 500).
    pub async fn list_leases(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        now_rfc3339: &str,
    ) -> Result<Vec<LeaseRow>, StoreError> {
        sqlx::query_as::<_, LeaseRow>(
            "SELECT lease_id, token_accessor, expires_at FROM leases \
             WHERE tenant_id = $1 AND profile_name = $2 AND expires_at > $3 ORDER BY expires_at, lease_id LIMIT 500",
        )
        .bind(tenant.as_str())
        .bind(profile.as_str())
        .bind(now_rfc3339)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err(e, "leases"))
    }

    /// Set a lease's honest end after a renewal.
    pub async fn update_lease_expiry(
        &self,
        scope: &LeaseScope,
        lease_id: &LeaseId,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        let query = sqlx::query(
            "UPDATE leases SET expires_at = $6 \
             WHERE tenant_id = $1 AND profile_name = $2 AND vault_address = $3 AND namespace = $4 AND lease_id = $5",
        );
        bind_key(query, scope, lease_id.as_str())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "lease"))?;
        Ok(())
    }

    /// Forget a lease (revoked).
    pub async fn delete_lease(&self, scope: &LeaseScope, lease_id: &LeaseId) -> Result<(), StoreError> {
        let query = sqlx::query(
            "DELETE FROM leases \
             WHERE tenant_id = $1 AND profile_name = $2 AND vault_address = $3 AND namespace = $4 AND lease_id = $5",
        );
        bind_key(query, scope, lease_id.as_str()).execute(&self.pool).await.map_err(|e| map_err(e, "lease"))?;
        Ok(())
    }

    /// Forget every lease of a profile (deleted).
    pub async fn delete_profile_leases(&self, tenant: &TenantId, profile: &ProfileName) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE tenant_id = $1 AND profile_name = $2")
            .bind(tenant.as_str())
            .bind(profile.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "leases"))?;
        Ok(())
    }

    /// Delete leases that ended before `before` (RFC 3339); how many went.
    pub async fn prune_leases(&self, before: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "leases"))?;
        Ok(done.rows_affected())
    }
}
