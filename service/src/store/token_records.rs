//! Sealed token records and login locks (the cluster token cache). The store
//! only keeps rows; sealing and unsealing are [`crate::tokens`]' job.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use super::*;
use crate::domain::{ProfileName, TenantId};

/// A sealed token record as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The profile.
    pub profile: ProfileName,
    /// The profile content's fingerprint (hex).
    pub fingerprint: String,
    /// The Vault address the token belongs to.
    pub vault_address: String,
    /// Its namespace ("" for the root).
    pub namespace: String,
    /// The token's accessor (not a secret).
    pub accessor: String,
    /// The TTL it was issued with.
    pub ttl_secs: i64,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// When it expires (Unix seconds), if it has a TTL.
    pub expires_epoch: Option<i64>,
    /// Its known hard limit (Unix seconds).
    pub max_end_epoch: Option<i64>,
    /// Until when replicas may use it (Unix seconds).
    pub cache_until_epoch: i64,
    /// Which key sealed it (a fingerprint of the key, not the key).
    pub key_id: String,
    /// Nonce and ciphertext, hex.
    pub sealed: String,
}

/// The sealed part never shows.
impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("tenant", &self.tenant)
            .field("profile", &self.profile)
            .field("accessor", &self.accessor)
            .field("cache_until_epoch", &self.cache_until_epoch)
            .finish_non_exhaustive()
    }
}

impl<'r> FromRow<'r, AnyRow> for TokenRecord {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tenant: parsed_column(r, "tenant_id", TenantId::parse)?,
            profile: parsed_column(r, "profile_name", ProfileName::parse)?,
            fingerprint: r.try_get("fingerprint")?,
            vault_address: r.try_get("vault_address")?,
            namespace: r.try_get("namespace")?,
            accessor: r.try_get("accessor")?,
            ttl_secs: r.try_get("ttl_secs")?,
            renewable: r.try_get::<i64, _>("renewable")? != 0,
            expires_epoch: r.try_get("expires_epoch")?,
            max_end_epoch: r.try_get("max_end_epoch")?,
            cache_until_epoch: r.try_get("cache_until_epoch")?,
            key_id: r.try_get("key_id")?,
            sealed: r.try_get("sealed")?,
        })
    }
}

/// A lock row is taken when it is free or its holder's time ran out ...
const TAKE_FREE_LOCK: &str = "INSERT INTO login_locks (lock_key, holder, until_epoch) VALUES ($1, $2, $3) \
     ON CONFLICT (lock_key) DO UPDATE SET holder = $2, until_epoch = $3 WHERE login_locks.until_epoch <= $4";
/// ... and, to hold it, also extended by its own holder.
const HOLD_LOCK: &str = "INSERT INTO login_locks (lock_key, holder, until_epoch) VALUES ($1, $2, $3) \
     ON CONFLICT (lock_key) DO UPDATE SET holder = $2, until_epoch = $3 \
     WHERE login_locks.until_epoch <= $4 OR login_locks.holder = $2";

const COLUMNS: &str = "tenant_id, profile_name, fingerprint, vault_address, namespace, accessor, ttl_secs, renewable, \
     expires_epoch, max_end_epoch, cache_until_epoch, key_id, sealed";

/// Unix seconds now.
pub fn epoch_now() -> i64 {
    epoch(SystemTime::now())
}

/// A time as whole Unix seconds (the `*_epoch` columns).
pub fn epoch(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An `*_epoch` column as a time.
pub fn from_epoch(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

impl Store {
    /// The record of one profile content, if one is still usable (its cache life not over).
    pub async fn token_record(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM token_records WHERE tenant_id = $1 AND profile_name = $2 AND fingerprint = $3 AND cache_until_epoch > $4"
        );
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(profile.as_str())
            .bind(fingerprint)
            .bind(epoch_now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "token record"))?;
        row.as_ref().map(decode).transpose()
    }

    /// A record by its token's scope and accessor (the issuer of a lease), if still usable.
    pub async fn token_record_by_accessor(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        accessor: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM token_records WHERE tenant_id = $1 AND profile_name = $2 AND accessor = $3 AND cache_until_epoch > $4"
        );
        let row = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(profile.as_str())
            .bind(accessor)
            .bind(epoch_now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "token record"))?;
        row.as_ref().map(decode).transpose()
    }

    /// A profile's records, whatever their cache life: one content's (`fingerprint`)
    /// or all of them; `accessor` narrows it to that token.
    pub async fn token_records_of(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        fingerprint: Option<&str>,
        accessor: Option<&str>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM token_records WHERE tenant_id = $1 AND profile_name = $2 \
             AND ($3 = '' OR fingerprint = $3) AND ($4 = '' OR accessor = $4)"
        );
        let rows = sqlx::query(AssertSqlSafe(q))
            .bind(tenant.as_str())
            .bind(profile.as_str())
            .bind(fingerprint.unwrap_or(""))
            .bind(accessor.unwrap_or(""))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "token records"))?;
        rows.iter().map(decode).collect()
    }

    /// Write (or replace) the record of a profile content.
    pub async fn put_token_record(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let q = format!(
            "INSERT INTO token_records ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id, profile_name, fingerprint) DO UPDATE SET vault_address = $4, namespace = $5, accessor = $6, \
             ttl_secs = $7, renewable = $8, expires_epoch = $9, max_end_epoch = $10, cache_until_epoch = $11, key_id = $12, \
             sealed = $13, updated_at = $14"
        );
        sqlx::query(AssertSqlSafe(q))
            .bind(r.tenant.as_str())
            .bind(r.profile.as_str())
            .bind(&r.fingerprint)
            .bind(&r.vault_address)
            .bind(&r.namespace)
            .bind(&r.accessor)
            .bind(r.ttl_secs)
            .bind(i64::from(r.renewable))
            .bind(r.expires_epoch)
            .bind(r.max_end_epoch)
            .bind(r.cache_until_epoch)
            .bind(&r.key_id)
            .bind(&r.sealed)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "token record"))?;
        Ok(())
    }

    /// Delete a profile's records: one content's (`fingerprint`), or all of them;
    /// `accessor` narrows it to that token. How many went.
    pub async fn delete_token_records(
        &self,
        tenant: &TenantId,
        profile: &ProfileName,
        fingerprint: Option<&str>,
        accessor: Option<&str>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM token_records WHERE tenant_id = $1 AND profile_name = $2 \
             AND ($3 = '' OR fingerprint = $3) AND ($4 = '' OR accessor = $4)",
        )
        .bind(tenant.as_str())
        .bind(profile.as_str())
        .bind(fingerprint.unwrap_or(""))
        .bind(accessor.unwrap_or(""))
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "token record"))?;
        Ok(done.rows_affected())
    }

    /// Delete every record of a tenant (offboarding).
    pub async fn delete_tenant_token_records(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM token_records WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "token records"))?;
        Ok(done.rows_affected())
    }

    /// Delete records whose cache life is over, and stale login locks; how many records went.
    pub async fn prune_token_records(&self) -> Result<u64, StoreError> {
        let now = epoch_now();
        let done = sqlx::query("DELETE FROM token_records WHERE cache_until_epoch <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "token records"))?;
        sqlx::query("DELETE FROM login_locks WHERE until_epoch <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "login locks"))?;
        Ok(done.rows_affected())
    }

    /// Usable records now.
    pub async fn count_token_records(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM token_records WHERE cache_until_epoch > $1")
            .bind(epoch_now())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(e, "token records"))?;
        let n: i64 = row.try_get("n").map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Take the login lock `key` for `holder` until `until_epoch`: true when
    /// this holder has it now (it was free, or its last holder's time ran out).
    pub async fn try_login_lock(&self, key: &str, holder: &str, until_epoch: i64) -> Result<bool, StoreError> {
        self.take_lock(TAKE_FREE_LOCK, key, holder, until_epoch, "login lock").await
    }

    /// Hold the lock row `key` for `holder` until `until_epoch`: true when this
    /// holder has it now (it was free, its last holder's time ran out, or it is
    /// this holder's already and is extended).
    pub async fn hold_lock(&self, key: &str, holder: &str, until_epoch: i64) -> Result<bool, StoreError> {
        self.take_lock(HOLD_LOCK, key, holder, until_epoch, "lock").await
    }

    async fn take_lock(
        &self,
        sql: &'static str,
        key: &str,
        holder: &str,
        until_epoch: i64,
        what: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql)
            .bind(key)
            .bind(holder)
            .bind(until_epoch)
            .bind(epoch_now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, what))?;
        Ok(done.rows_affected() == 1)
    }

    /// Give the login lock back (only if `holder` still has it).
    pub async fn release_login_lock(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_locks WHERE lock_key = $1 AND holder = $2")
            .bind(key)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "login lock"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_keeps_a_lock_and_another_takes_it_over_once_its_time_is_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.expect("store");
        let now = epoch_now();
        assert!(store.hold_lock("sweeper", "a", now + 30).await.expect("a"));
        assert!(!store.hold_lock("sweeper", "b", now + 30).await.expect("b"), "a holds it");
        assert!(store.hold_lock("sweeper", "a", now + 60).await.expect("a again"), "its holder extends it");
        // A holder that died: its time runs out, and the other takes over.
        assert!(store.hold_lock("lapsed", "a", now - 1).await.expect("a"));
        assert!(store.hold_lock("lapsed", "b", now + 30).await.expect("b"), "a's time is up");
        assert!(!store.hold_lock("lapsed", "a", now + 30).await.expect("a"), "b holds it now");
    }
}
