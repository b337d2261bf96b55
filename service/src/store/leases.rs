//! Leases issued through a profile (dynamic secrets), per tenant.

use super::*;
use crate::domain::{ProfileName, TenantId};

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

impl Store {
    /// Record a lease issued through a profile of `tenant`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %profile))]
    pub async fn insert_lease(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        lease: &LeaseRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO leases (lease_id, tenant_id, profile_name, token_accessor, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (lease_id) DO UPDATE SET expires_at = $5",
        )
        .bind(&lease.lease_id)
        .bind(tenant.as_str())
        .bind(profile.as_str())
        .bind(&lease.token_accessor)
        .bind(&lease.expires_at)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "lease"))?;
        Ok(())
    }

    /// A lease, only if it was issued through this tenant's profile.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, profile = %profile))]
    pub async fn get_lease(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        lease_id: &str,
    ) -> Result<Option<LeaseRow>, StoreError> {
        let row = sqlx::query(
            "SELECT lease_id, token_accessor, expires_at FROM leases WHERE lease_id = $1 AND tenant_id = $2 AND profile_name = $3",
        )
        .bind(lease_id)
        .bind(tenant.as_str())
        .bind(profile.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| map_err(e, "lease"))?;
        row.map(|r| {
            let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| StoreError::Database(e.to_string()));
            Ok(LeaseRow {
                lease_id: g("lease_id")?,
                token_accessor: g("token_accessor")?,
                expires_at: g("expires_at")?,
            })
        })
        .transpose()
    }

    /// Set a lease's honest end after a renewal.
    pub async fn update_lease_expiry(
        &self,
        tenant: &TenantId,
        lease_id: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET expires_at = $3 WHERE lease_id = $1 AND tenant_id = $2")
            .bind(lease_id)
            .bind(tenant.as_str())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "lease"))?;
        Ok(())
    }

    /// Forget a lease (revoked).
    pub async fn delete_lease(&self, tenant: &TenantId, lease_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE lease_id = $1 AND tenant_id = $2")
            .bind(lease_id)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "lease"))?;
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
}
