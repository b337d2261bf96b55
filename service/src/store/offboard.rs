//! Offboarding a tenant: every row of it goes in one transaction (keys,
//! profiles, lease records, and its audit trail when asked), then every cache
//! that held any of it is told, on this replica and the others.

use super::memo::Change;
use super::*;
use crate::domain::TenantId;

/// What a tenant delete removed.
#[derive(Debug, Default)]
pub struct Offboarded {
    /// The tenant's profiles as they were (for revoking their tokens).
    pub profiles: Vec<ProfileRow>,
    /// Key ids removed.
    pub keys: usize,
    /// Audit events removed (0 when kept for the retention period).
    pub audit_events: u64,
}

/// An EC2 nonce's place: Vault address, namespace and mount (every instance's row there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoncePlace {
    /// The Vault address, as the nonce key stores it.
    pub vault_address: String,
    /// The namespace ("" for the root).
    pub namespace: String,
    /// The auth mount.
    pub mount_path: String,
}

impl Store {
    /// Delete `tenant` and everything of it, in one transaction. Audit events
    /// stay (pruned by the retention period) unless `purge_audit`. EC2 nonces
    /// at `unshared_nonces` (places no other tenant's profile logs in at) go too.
    /// None when there is no such tenant.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn delete_tenant(
        &self,
        tenant: &TenantId,
        purge_audit: bool,
        unshared_nonces: &[NoncePlace],
    ) -> Result<Option<Offboarded>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| map_err(e, "tenant"))?;
        let exists = sqlx::query("SELECT id FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| map_err(e, "tenant"))?;
        if exists.is_none() {
            return Ok(None);
        }
        let q = format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant_id = $1 ORDER BY name");
        let profiles = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| map_err(e, "profiles"))?
            .iter()
            .map(decode)
            .collect::<Result<Vec<ProfileRow>, _>>()?;
        let key_ids: Vec<String> = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 RETURNING id")
            .bind(tenant.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| map_err(e, "api keys"))?
            .iter()
            .map(|r| decode::<(String,)>(r).map(|(id,)| id))
            .collect::<Result<_, _>>()?;
        for sql in ["DELETE FROM profiles WHERE tenant_id = $1", "DELETE FROM leases WHERE tenant_id = $1"] {
            sqlx::query(sql).bind(tenant.as_str()).execute(&mut *tx).await.map_err(|e| map_err(e, "tenant rows"))?;
        }
        let audit_events = if purge_audit {
            sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "audit events"))?
                .rows_affected()
        } else {
            0
        };
        for place in unshared_nonces {
            sqlx::query("DELETE FROM ec2_nonces WHERE vault_address = $1 AND namespace = $2 AND mount_path = $3")
                .bind(&place.vault_address)
                .bind(&place.namespace)
                .bind(&place.mount_path)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "ec2 nonces"))?;
        }
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "tenant"))?;
        tx.commit().await.map_err(|e| map_err(e, "tenant"))?;
        for id in &key_ids {
            self.announce(Change::Key(id.clone())).await;
        }
        for p in &profiles {
            self.announce(Change::Profile(tenant.clone(), p.name.clone())).await;
        }
        self.announce(Change::Tenant(tenant.clone())).await;
        Ok(Some(Offboarded { profiles, keys: key_ids.len(), audit_events }))
    }
}
