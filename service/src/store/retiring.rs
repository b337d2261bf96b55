//! Retiring tokens of the cluster token cache: sealed tokens that back live
//! leases after no replica reads with them any more, so that any replica can
//! renew or revoke them. The store keeps rows; [`crate::leases`] seals, opens,
//! renews and revokes. A retiring token's leases are the `leases` rows of its
//! scope with its accessor.

use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::*;
use crate::domain::{ProfileName, TenantId, VaultAddress};

/// A retiring token as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RetiringToken {
    /// Where it belongs.
    pub scope: LeaseScope,
    /// Its accessor (not a secret).
    pub accessor: String,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// When it expires (Unix seconds), if it has a TTL.
    pub expires_epoch: Option<i64>,
    /// Its known hard limit (Unix seconds).
    pub max_end_epoch: Option<i64>,
    /// Keep it at least until then (Unix seconds): set when its lease rows went
    /// with a deleted tenant whose credentials were kept.
    pub keep_until_epoch: Option<i64>,
    /// Which key sealed it (the key's public id).
    pub key_id: String,
    /// Nonce and ciphertext, hex.
    pub sealed: String,
}

/// The sealed part never shows.
impl std::fmt::Debug for RetiringToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetiringToken")
            .field("scope", &self.scope)
            .field("accessor", &self.accessor)
            .field("expires_epoch", &self.expires_epoch)
            .finish_non_exhaustive()
    }
}

impl<'r> FromRow<'r, AnyRow> for RetiringToken {
    fn from_row(r: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let namespace: String = r.try_get("namespace")?;
        Ok(Self {
            scope: LeaseScope {
                tenant: parsed_column(r, "tenant_id", TenantId::parse)?,
                profile: parsed_column(r, "profile_name", ProfileName::parse)?,
                address: parsed_column(r, "vault_address", VaultAddress::parse)?,
                namespace: (!namespace.is_empty()).then_some(namespace),
            },
            accessor: r.try_get("accessor")?,
            renewable: r.try_get::<i64, _>("renewable")? != 0,
            expires_epoch: r.try_get("expires_epoch")?,
            max_end_epoch: r.try_get("max_end_epoch")?,
            keep_until_epoch: r.try_get("keep_until_epoch")?,
            key_id: r.try_get("key_id")?,
            sealed: r.try_get("sealed")?,
        })
    }
}

const COLUMNS: &str = "tenant_id, profile_name, vault_address, namespace, accessor, renewable, expires_epoch, \
     max_end_epoch, keep_until_epoch, key_id, sealed";

/// The most retiring tokens one sweep looks at.
const SWEEP_LIMIT: i64 = 10_000;

/// Bind a token's key: `$1` to `$5` are tenant, profile, Vault address, namespace and accessor.
fn bind_key<'q>(query: AnyQuery<'q>, scope: &'q LeaseScope, accessor: &'q str) -> AnyQuery<'q> {
    query
        .bind(scope.tenant.as_str())
        .bind(scope.profile.as_str())
        .bind(scope.address.as_str())
        .bind(scope.namespace.as_deref().unwrap_or(""))
        .bind(accessor)
}

const KEY: &str = "tenant_id = $1 AND profile_name = $2 AND vault_address = $3 AND namespace = $4";

impl Store {
    /// Write (or replace) a retiring token; a `keep_until_epoch` already stored is kept if later.
    pub async fn put_retiring_token(&self, t: &RetiringToken) -> Result<(), StoreError> {
        let q = format!(
            "INSERT INTO retiring_tokens ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (tenant_id, profile_name, vault_address, namespace, accessor) DO UPDATE SET renewable = $6, \
             expires_epoch = $7, max_end_epoch = $8, \
             keep_until_epoch = CASE WHEN retiring_tokens.keep_until_epoch IS NULL OR $9 > retiring_tokens.keep_until_epoch \
                                THEN $9 ELSE retiring_tokens.keep_until_epoch END, \
             key_id = $10, sealed = $11, updated_at = $12"
        );
        bind_key(sqlx::query(AssertSqlSafe(q)), &t.scope, &t.accessor)
            .bind(i64::from(t.renewable))
            .bind(t.expires_epoch)
            .bind(t.max_end_epoch)
            .bind(t.keep_until_epoch)
            .bind(&t.key_id)
            .bind(&t.sealed)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring token"))?;
        Ok(())
    }

    /// One retiring token, by scope and accessor.
    pub async fn retiring_token(
        &self,
        scope: &LeaseScope,
        accessor: &str,
    ) -> Result<Option<RetiringToken>, StoreError> {
        let q = format!("SELECT {COLUMNS} FROM retiring_tokens WHERE {KEY} AND accessor = $5");
        let row = bind_key(sqlx::query(AssertSqlSafe(q)), scope, accessor)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring token"))?;
        row.as_ref().map(decode).transpose()
    }

    /// Retiring tokens: all of them (at most 10,000, the ones expiring soonest
    /// first), or one profile's.
    pub async fn retiring_tokens(
        &self,
        profile: Option<(&TenantId, &ProfileName)>,
    ) -> Result<Vec<RetiringToken>, StoreError> {
        let q = format!(
            "SELECT {COLUMNS} FROM retiring_tokens WHERE ($1 = '' OR (tenant_id = $1 AND profile_name = $2)) \
             ORDER BY expires_epoch LIMIT $3"
        );
        sqlx::query_as::<_, RetiringToken>(AssertSqlSafe(q))
            .bind(profile.map_or("", |(t, _)| t.as_str()))
            .bind(profile.map_or("", |(_, p)| p.as_str()))
            .bind(SWEEP_LIMIT)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring tokens"))
    }

    /// A retiring token was renewed: its new end and known limit.
    pub async fn update_retiring_token(
        &self,
        scope: &LeaseScope,
        accessor: &str,
        expires_epoch: Option<i64>,
        max_end_epoch: Option<i64>,
    ) -> Result<(), StoreError> {
        let q = format!(
            "UPDATE retiring_tokens SET expires_epoch = $6, max_end_epoch = $7, updated_at = $8 WHERE {KEY} AND accessor = $5"
        );
        bind_key(sqlx::query(AssertSqlSafe(q)), scope, accessor)
            .bind(expires_epoch)
            .bind(max_end_epoch)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring token"))?;
        Ok(())
    }

    /// Forget a retiring token (revoked, or its time is over).
    pub async fn delete_retiring_token(&self, scope: &LeaseScope, accessor: &str) -> Result<(), StoreError> {
        let q = format!("DELETE FROM retiring_tokens WHERE {KEY} AND accessor = $5");
        bind_key(sqlx::query(AssertSqlSafe(q)), scope, accessor)
            .execute(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring token"))?;
        Ok(())
    }

    /// How many tokens are retiring now.
    pub async fn count_retiring_tokens(&self) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM retiring_tokens")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(e, "retiring tokens"))?;
        let n: i64 = row.try_get("n").map_err(|e| map_err(e, "retiring tokens"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The end (RFC 3339) of the last lease the token `accessor` issued in
    /// `scope` that has not ended by `now_rfc3339`; None when none is live.
    pub async fn last_lease_end(
        &self,
        scope: &LeaseScope,
        accessor: &str,
        now_rfc3339: &str,
    ) -> Result<Option<String>, StoreError> {
        let q = format!(
            "SELECT MAX(expires_at) AS last FROM leases WHERE {KEY} AND token_accessor = $5 AND expires_at > $6"
        );
        let row = bind_key(sqlx::query(AssertSqlSafe(q)), scope, accessor)
            .bind(now_rfc3339)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map_err(e, "leases"))?;
        row.try_get::<Option<String>, _>("last").map_err(|e| map_err(e, "leases"))
    }

    /// A tenant's live leases, the last end per issuing token: `(scope, accessor,
    /// end)` (read before offboarding with `keep_leases`).
    pub async fn live_lease_ends_of_tenant(
        &self,
        tenant: &TenantId,
        now_rfc3339: &str,
    ) -> Result<Vec<(LeaseScope, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT profile_name, vault_address, namespace, token_accessor, MAX(expires_at) AS last FROM leases \
             WHERE tenant_id = $1 AND expires_at > $2 GROUP BY profile_name, vault_address, namespace, token_accessor",
        )
        .bind(tenant.as_str())
        .bind(now_rfc3339)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| map_err(e, "leases"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let get = |c: &str| r.try_get::<String, _>(c).map_err(|e| map_err(e, "leases"));
            let (Ok(profile), Ok(address)) =
                (ProfileName::parse(&get("profile_name")?), VaultAddress::parse(&get("vault_address")?))
            else {
                continue;
            };
            let namespace = get("namespace")?;
            let scope = LeaseScope {
                tenant: tenant.clone(),
                profile,
                address,
                namespace: (!namespace.is_empty()).then_some(namespace),
            };
            out.push((scope, get("token_accessor")?, get("last")?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retiring_token_round_trips_and_its_kept_time_only_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display())).await.expect("store");
        let scope = LeaseScope {
            tenant: TenantId::parse("t").expect("t"),
            profile: ProfileName::parse("p").expect("p"),
            address: VaultAddress::parse("http://127.0.0.1:8200").expect("address"),
            namespace: Some("team-a".into()),
        };
        let mut t = RetiringToken {
            scope: scope.clone(),
            accessor: "acc".into(),
            renewable: true,
            expires_epoch: Some(100),
            max_end_epoch: None,
            keep_until_epoch: Some(500),
            key_id: "k".into(),
            sealed: "00".into(),
        };
        store.put_retiring_token(&t).await.expect("put");
        t.keep_until_epoch = None;
        store.put_retiring_token(&t).await.expect("put again");
        let back = store.retiring_token(&scope, "acc").await.expect("get").expect("there");
        assert_eq!(back.keep_until_epoch, Some(500), "a later retirement does not shorten a kept time");
        assert_eq!(back.scope, scope);
        store.update_retiring_token(&scope, "acc", Some(200), Some(300)).await.expect("update");
        let all = store.retiring_tokens(None).await.expect("all");
        assert_eq!((all.len(), all[0].expires_epoch, all[0].max_end_epoch), (1, Some(200), Some(300)));
        assert_eq!(store.count_retiring_tokens().await.expect("count"), 1);
        store.delete_retiring_token(&scope, "acc").await.expect("delete");
        assert!(store.retiring_token(&scope, "acc").await.expect("get").is_none());
    }
}
