//! Retiring tokens with the cluster token cache: sealed into the store, so any
//! replica can renew or revoke them and they outlive a restart.
//!
//! How it works: when a replica lets a token go (its cache life ended, a
//! profile changed, Vault replaced it) and no sealed record shares it any more,
//! the replica looks at the token's leases (the `leases` rows with its scope and
//! accessor, plus any it holds in memory). With none live it revokes the token;
//! otherwise it seals the token into `retiring_tokens` (AES-256-GCM, bound to
//! scope and accessor) and forgets it. A lease renewed through any replica
//! makes its retiring issuer reach the new end at once. Once a second, one
//! replica (the holder of the `lease-sweeper` lock row, taken over when its
//! holder's time runs out) sweeps: renews retiring tokens that are about to end
//! before their last lease, and revokes those whose leases all ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{LeaseBook, RENEW_BEFORE, TokenKey, TokenRef, end_of, rfc3339};
use crate::domain::secret_path::LeaseId;
use crate::domain::{ProfileName, TenantId};
use crate::seal::{Sealed, Sealer};
use crate::store::{LeaseScope, RetiringToken, Store, epoch, epoch_now, from_epoch};

/// The lock row of the cluster's one lease sweeper.
const SWEEPER_LOCK: &str = "lease-sweeper";
/// How often the sweeper runs, and how long its lock outlives a silent holder.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
const LOCK_FOR_SECS: i64 = 10;

/// The store side of retiring tokens.
pub struct Retiring {
    store: Store,
    sealer: Arc<Sealer>,
    /// This process as the sweeper lock's holder.
    holder: String,
    /// Lease ends to keep tokens for although their lease rows go (a tenant
    /// offboarded with `keep_leases`), until the token is let go here.
    kept: Mutex<HashMap<TokenKey, SystemTime>>,
    last_sweep: Mutex<Option<Instant>>,
}

impl Retiring {
    /// Retiring tokens in `store`, sealed by `sealer`; `holder` names this process.
    pub fn new(store: Store, sealer: Arc<Sealer>, holder: String) -> Self {
        Self { store, sealer, holder, kept: Mutex::default(), last_sweep: Mutex::default() }
    }

    /// Whether a live sealed record still shares the token (another replica, or
    /// this one after a restart, may read with it).
    pub(super) async fn still_shared(&self, token: &TokenRef) -> bool {
        matches!(self.store.token_record_by_accessor(&token.tenant, &token.profile, &token.accessor).await, Ok(Some(_)))
    }

    fn seal(&self, token: &TokenRef, keep_until: Option<SystemTime>) -> Option<RetiringToken> {
        let Sealed { key_id, sealed } =
            self.sealer.seal(&token.token, &associated_data(&token.scope(), &token.accessor))?;
        Some(RetiringToken {
            scope: token.scope(),
            accessor: token.accessor.clone(),
            renewable: token.renewable,
            expires_epoch: token.expires.map(epoch),
            max_end_epoch: token.max_end.map(epoch),
            keep_until_epoch: keep_until.map(epoch),
            key_id,
            sealed,
        })
    }

    /// The token a row holds (None: it does not open with this replica's keys).
    fn open(&self, row: &RetiringToken) -> Option<TokenRef> {
        let token = self.sealer.unseal(&row.key_id, &row.sealed, &associated_data(&row.scope, &row.accessor))?;
        Some(TokenRef {
            token,
            accessor: row.accessor.clone(),
            address: row.scope.address.clone(),
            namespace: row.scope.namespace.clone(),
            tenant: row.scope.tenant.clone(),
            profile: row.scope.profile.clone(),
            renewable: row.renewable,
            expires: row.expires_epoch.map(from_epoch),
            max_end: row.max_end_epoch.map(from_epoch),
        })
    }

    /// The end of the token's last live lease in the store.
    async fn last_lease_end(&self, scope: &LeaseScope, accessor: &str) -> Result<Option<SystemTime>, ()> {
        match self.store.last_lease_end(scope, accessor, &rfc3339(SystemTime::now())).await {
            Ok(last) => Ok(last.and_then(|t| humantime::parse_rfc3339(&t).ok())),
            Err(e) => {
                tracing::warn!(error = %e, "could not read a token's leases");
                Err(())
            }
        }
    }

    /// Whether the sweeper should run now (every [`SWEEP_EVERY`]).
    fn due(&self) -> bool {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// What a retiring token is bound to: a row moved to another scope or token does not open.
fn associated_data(scope: &LeaseScope, accessor: &str) -> String {
    format!(
        "auth-service retiring token v1\n{}\n{}\n{}\n{}\n{accessor}",
        scope.tenant,
        scope.profile,
        scope.address.as_str(),
        scope.namespace.as_deref().unwrap_or("")
    )
}

impl LeaseBook {
    fn cluster(&self) -> &Retiring {
        self.cluster.as_ref().expect("only called with the cluster token cache")
    }

    /// Let `token` go the cluster's way (in the background: the caller may hold no runtime lock).
    pub(super) fn release_to_store(self: &Arc<Self>, token: &TokenRef) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (book, token) = (self.clone(), token.clone());
        runtime.spawn(async move { book.let_go(token).await });
    }

    /// Revoke the token, or seal it into the store as retiring while it backs
    /// live leases (the store's lease rows, and any this replica holds).
    async fn let_go(self: Arc<Self>, token: TokenRef) {
        let cluster = self.cluster();
        if cluster.still_shared(&token).await {
            return;
        }
        let Ok(stored_last) = cluster.last_lease_end(&token.scope(), &token.accessor).await else {
            // Without the store's word, keep it here rather than end leases.
            self.keep_here(&token);
            return;
        };
        let kept = cluster.kept.lock().unwrap_or_else(|e| e.into_inner()).remove(&token.key());
        let now = SystemTime::now();
        let local_last = self
            .lock()
            .entries
            .get(&token.key())
            .and_then(|e| e.leases.values().filter(|end| **end > now).max().copied());
        let last = local_last.max(stored_last).max(kept);
        let past_max = token.max_end.is_some_and(|m| m <= now);
        if last.is_none_or(|l| l <= now) || past_max {
            self.lock().remove(&token.key());
            // No live record shares it (checked above).
            self.revoke(&token, "superseded token").await;
            return;
        }
        let written = match cluster.seal(&token, kept) {
            Some(row) => cluster.store.put_retiring_token(&row).await.map_err(|e| e.to_string()),
            None => Err("it could not be sealed".into()),
        };
        match written {
            Ok(()) => {
                self.lock().remove(&token.key());
                tracing::info!(tenant = %token.tenant, profile = %token.profile, accessor = %token.accessor,
                    "token retiring (sealed in the store): it backs live leases");
            }
            Err(e) => {
                tracing::warn!(tenant = %token.tenant, profile = %token.profile, error = %e,
                    "could not store a retiring token; this replica keeps it");
                self.keep_here(&token);
            }
        }
        self.metrics.retiring_tokens(self.retiring());
    }

    /// Keep a token retiring in this replica's memory (the store is unavailable).
    fn keep_here(&self, token: &TokenRef) {
        if let Some(e) = self.lock().entries.get_mut(&token.key()) {
            e.retiring = true;
        }
    }

    /// A lease this replica holds no issuer for was renewed to `lease_end`:
    /// make its issuer reach it, when that is the `calling` token or a retiring
    /// token in the store. Returns the honest end.
    pub(super) async fn renewed_elsewhere(
        &self,
        scope: &LeaseScope,
        lease_id: &LeaseId,
        lease_end: SystemTime,
        calling: &TokenRef,
    ) -> SystemTime {
        let Some(cluster) = &self.cluster else { return lease_end };
        let Ok(Some(row)) = cluster.store.get_lease(scope, lease_id).await else { return lease_end };
        if row.token_accessor == calling.accessor && &calling.scope() == scope {
            // The profile's shared token issued it: this replica takes the lease into its book.
            let duration = lease_end.duration_since(SystemTime::now()).unwrap_or_default();
            return self.record(calling, lease_id, duration).await;
        }
        let Ok(Some(retiring)) = cluster.store.retiring_token(scope, &row.token_accessor).await else {
            return lease_end;
        };
        let Some(token) = cluster.open(&retiring) else {
            self.metrics.unseal_failed();
            return lease_end;
        };
        let (expires, max_end) = self.extend(&token, lease_end).await;
        if (expires, max_end) != (token.expires, token.max_end)
            && let Err(e) = cluster
                .store
                .update_retiring_token(scope, &token.accessor, expires.map(epoch), max_end.map(epoch))
                .await
        {
            tracing::warn!(error = %e, "could not record a retiring token's renewal");
        }
        end_of(expires, max_end).map_or(lease_end, |end| end.min(lease_end))
    }

    /// A profile is deleted with its leases: revoke its retiring tokens in the store.
    pub(super) fn revoke_retiring_of(self: &Arc<Self>, tenant: &TenantId, profile: &ProfileName) {
        if self.cluster.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (book, tenant, profile) = (self.clone(), tenant.clone(), profile.clone());
        runtime.spawn(async move {
            let cluster = book.cluster();
            let rows = cluster.store.retiring_tokens(Some((&tenant, &profile))).await.unwrap_or_default();
            for row in rows {
                book.end_retiring(&row, "retiring token of a deleted profile").await;
            }
        });
    }

    /// Remember lease ends to keep tokens for although their lease rows are
    /// about to go (a tenant offboarded with `keep_leases`): for tokens let go
    /// later, and for tokens already retiring.
    pub async fn keep_until(&self, ends: Vec<(LeaseScope, String, SystemTime)>) {
        let Some(cluster) = &self.cluster else { return };
        let now = SystemTime::now();
        cluster.kept.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, until| *until > now);
        for (scope, accessor, end) in ends {
            if let Ok(Some(mut row)) = cluster.store.retiring_token(&scope, &accessor).await {
                row.keep_until_epoch = Some(epoch(end));
                if let Err(e) = cluster.store.put_retiring_token(&row).await {
                    tracing::warn!(error = %e, "could not keep a retiring token for its leases");
                }
            }
            cluster.kept.lock().unwrap_or_else(|e| e.into_inner()).insert((scope, accessor), end);
        }
    }

    /// Revoke a retiring token and forget its row. A row this replica's keys do
    /// not open is left to a replica whose keys do (or to its expiry).
    async fn end_retiring(self: &Arc<Self>, row: &RetiringToken, why: &'static str) {
        let cluster = self.cluster();
        // Vault ended an expired token (and its leases) already.
        let expired = row.expires_epoch.is_some_and(|t| t <= epoch_now());
        let token = cluster.open(row);
        if token.is_none() && !expired {
            self.metrics.unseal_failed();
            return;
        }
        if let Err(e) = cluster.store.delete_retiring_token(&row.scope, &row.accessor).await {
            tracing::warn!(error = %e, "could not forget a retiring token");
            return;
        }
        if let Some(token) = token.filter(|_| !expired) {
            self.revoke_later(token, why);
        }
    }

    /// The cluster's sweep, on the one replica that holds the sweeper lock:
    /// revoke retiring tokens whose leases all ended (or that reached their
    /// maximum), renew those about to end before their last lease.
    pub async fn sweep_retiring(self: &Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        if !cluster.due() {
            return;
        }
        match cluster.store.hold_lock(SWEEPER_LOCK, &cluster.holder, epoch_now() + LOCK_FOR_SECS).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::debug!(error = %e, "the lease sweeper lock is unavailable");
                return;
            }
        }
        let rows = match cluster.store.retiring_tokens(None).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the retiring tokens");
                return;
            }
        };
        let now = SystemTime::now();
        for row in rows {
            let Ok(stored) = cluster.last_lease_end(&row.scope, &row.accessor).await else { continue };
            let last = stored.max(row.keep_until_epoch.map(from_epoch)).filter(|l| *l > now);
            let ended = row.expires_epoch.is_some_and(|t| from_epoch(t) <= now)
                || row.max_end_epoch.is_some_and(|m| from_epoch(m) <= now);
            let Some(last) = last.filter(|_| !ended) else {
                self.end_retiring(&row, "retiring token whose leases ended").await;
                continue;
            };
            let Some(token) = cluster.open(&row) else {
                // Another replica's key may open it; it goes when it expires.
                self.metrics.unseal_failed();
                continue;
            };
            let short = token.expires.is_some_and(|t| t.duration_since(now).unwrap_or_default() < RENEW_BEFORE);
            if token.renewable && short && token.expires.is_some_and(|t| t < last) {
                let (expires, max_end) = self.extend(&token, last).await;
                if let Err(e) = cluster
                    .store
                    .update_retiring_token(&row.scope, &row.accessor, expires.map(epoch), max_end.map(epoch))
                    .await
                {
                    tracing::warn!(error = %e, "could not record a retiring token's renewal");
                }
            }
        }
        if let Ok(n) = cluster.store.count_retiring_tokens().await {
            self.metrics.token_records("retiring", n);
        }
    }
}
