//! Leases of dynamic secrets, and the tokens that must outlive them.
//!
//! How it works: Vault revokes every lease a token created when that token is
//! revoked or expires. So when a read returns a lease, the [`LeaseBook`]
//! records it against the issuing token (in memory; tokens are never stored)
//! and makes that token reach the lease's end: `renew-self` with the lease's
//! duration. Vault cuts a renewal at the token's effective maximum (a role's
//! `token_max_ttl`, which `lookup-self` does not show), and that cut is the
//! token's latest possible end. The lease's honest end, `expires_at`, is the
//! earlier of the two.
//!
//! Whenever the service would drop a token (test connection, replace, a 403
//! retry, the end of its cache life), [`LeaseBook::release`] decides: a token
//! with live leases becomes *retiring* (no reads use it; the sweeper keeps it
//! renewed until its last lease ends or it reaches its maximum, then revokes
//! it); any other token is revoked at once. Deleting a profile revokes its
//! tokens, and so their leases, unless the admin asks to keep them.
//!
//! With the cluster token cache on, a retiring token is sealed into the store
//! instead of kept in one replica's memory (see [`retiring`]): any replica can
//! renew it or revoke it, one replica at a time sweeps them, and they outlive
//! restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

mod retiring;
pub use retiring::Retiring;

use crate::domain::secret_path::LeaseId;
use crate::domain::{ProfileName, TenantId};
use crate::metrics::Metrics;
use crate::store::LeaseScope;
use crate::vault::{self, Op};

/// The most retiring tokens kept at once; beyond it a released token is revoked (and its leases end).
pub const MAX_RETIRING: usize = 10_000;

/// Renew a token that backs live leases when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

mod token;
pub use token::TokenRef;

/// A token in the book: its scope and accessor.
type TokenKey = (LeaseScope, String);
/// A lease in the book: its scope and id.
type LeaseKey = (LeaseScope, LeaseId);

struct Entry {
    token: TokenRef,
    leases: HashMap<LeaseId, SystemTime>,
    retiring: bool,
}

impl Book {
    /// Take a token's entry out, with its leases' index rows.
    fn remove(&mut self, key: &TokenKey) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        for lease in entry.leases.keys() {
            self.by_lease.remove(&(key.0.clone(), lease.clone()));
        }
        Some(entry)
    }
}

impl Entry {
    fn live(&self, now: SystemTime) -> bool {
        self.leases.values().any(|end| *end > now)
    }
}

/// The tokens by scope and accessor, and an index from each lease to its token.
#[derive(Default)]
struct Book {
    entries: HashMap<TokenKey, Entry>,
    by_lease: HashMap<LeaseKey, TokenKey>,
}

/// Leases per issuing token, and the retiring tokens.
pub struct LeaseBook {
    book: Mutex<Book>,
    http: reqwest::Client,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// With the cluster token cache: a released token whose sealed record is
    /// still live is not revoked (other replicas, or this one after a restart,
    /// use it), and retiring tokens are sealed into the store.
    cluster: Option<Retiring>,
}

impl LeaseBook {
    /// An empty book.
    pub fn new(http: reqwest::Client, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self { book: Mutex::new(Book::default()), http, timeout, metrics, cluster: None }
    }

    /// The cluster token cache's way: a released token stays alive while its
    /// sealed record is live, and retiring tokens are sealed into the store.
    pub fn with_cluster(mut self, cluster: Retiring) -> Self {
        self.cluster = Some(cluster);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tokens now retiring.
    pub fn retiring(&self) -> usize {
        self.lock().entries.values().filter(|e| e.retiring).count()
    }

    /// Record a lease `token` issued for `duration`; returns its honest end.
    pub async fn record(&self, token: &TokenRef, lease_id: &LeaseId, duration: Duration) -> SystemTime {
        let lease_end = SystemTime::now() + duration;
        let key = token.key();
        self.lock().entries.entry(key.clone()).or_insert_with(|| Entry {
            token: token.clone(),
            leases: HashMap::new(),
            retiring: false,
        });
        let token_end = self.reach(&key, lease_end).await;
        let expires = token_end.map_or(lease_end, |t| t.min(lease_end));
        let mut book = self.lock();
        if let Some(e) = book.entries.get_mut(&key) {
            e.leases.insert(lease_id.clone(), expires);
            book.by_lease.insert((key.0.clone(), lease_id.clone()), key);
        }
        expires
    }

    /// A lease was renewed to `lease_end` with the `calling` token: make its
    /// issuing token reach that end (held here, the calling token itself, or,
    /// with the cluster token cache, a retiring token in the store). Returns the
    /// honest end.
    pub async fn renewed(
        &self,
        scope: &LeaseScope,
        lease_id: &LeaseId,
        lease_end: SystemTime,
        calling: &TokenRef,
    ) -> SystemTime {
        let key = self.lock().by_lease.get(&(scope.clone(), lease_id.clone())).cloned();
        let Some(key) = key else { return self.renewed_elsewhere(scope, lease_id, lease_end, calling).await };
        let token_end = self.reach(&key, lease_end).await;
        let expires = token_end.map_or(lease_end, |t| t.min(lease_end));
        if let Some(e) = self.lock().entries.get_mut(&key) {
            e.leases.insert(lease_id.clone(), expires);
        }
        expires
    }

    /// A lease was revoked.
    pub fn revoked(&self, scope: &LeaseScope, lease_id: &LeaseId) {
        let mut book = self.lock();
        if let Some(key) = book.by_lease.remove(&(scope.clone(), lease_id.clone()))
            && let Some(e) = book.entries.get_mut(&key)
        {
            e.leases.remove(lease_id);
        }
    }

    /// The issuing token of a lease, if this replica holds it.
    pub fn issuer(&self, scope: &LeaseScope, lease_id: &LeaseId) -> Option<TokenRef> {
        let book = self.lock();
        book.by_lease.get(&(scope.clone(), lease_id.clone())).and_then(|k| book.entries.get(k)).map(|e| e.token.clone())
    }

    /// The service no longer uses `token` for reads: keep it (retiring) while it
    /// backs live leases, else revoke it now. Returns whether it was kept.
    pub fn release(self: &Arc<Self>, token: &TokenRef) -> bool {
        if self.cluster.is_some() {
            self.release_to_store(token);
            return false;
        }
        let now = SystemTime::now();
        let kept = {
            let mut book = self.lock();
            let retiring = book.entries.values().filter(|e| e.retiring).count();
            let key = token.key();
            match book.entries.get_mut(&key) {
                Some(e) if e.live(now) && (e.retiring || retiring < MAX_RETIRING) => {
                    e.retiring = true;
                    true
                }
                Some(_) => {
                    book.remove(&key);
                    false
                }
                None => false,
            }
        };
        if kept {
            tracing::info!(tenant = %token.tenant, profile = %token.profile, accessor = %token.accessor, "token retiring: it backs live leases");
        } else {
            self.revoke_later(token.clone(), "superseded token");
        }
        self.metrics.retiring_tokens(self.retiring());
        kept
    }

    /// A profile goes away: revoke all its tokens (and so their leases), or,
    /// with `keep_leases`, let them retire until their leases end.
    pub fn forget_profile(self: &Arc<Self>, tenant: &TenantId, profile: &ProfileName, keep_leases: bool) {
        if !keep_leases {
            self.revoke_retiring_of(tenant, profile);
        }
        let mut to_revoke = Vec::new();
        {
            let mut book = self.lock();
            let keys: Vec<TokenKey> = book
                .entries
                .iter()
                .filter(|(_, e)| &e.token.tenant == tenant && &e.token.profile == profile)
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                if keep_leases {
                    if let Some(e) = book.entries.get_mut(&key) {
                        e.retiring = true;
                    }
                } else if let Some(e) = book.remove(&key) {
                    to_revoke.push(e.token);
                }
            }
        }
        for token in to_revoke {
            self.revoke_later(token, "token of a deleted profile");
        }
        self.metrics.retiring_tokens(self.retiring());
    }

    /// One pass: forget ended leases, revoke retiring tokens whose leases all
    /// ended (or that reached their maximum), renew tokens that back live leases.
    pub async fn sweep(self: &Arc<Self>) {
        let now = SystemTime::now();
        let mut to_revoke = Vec::new();
        let mut to_renew = Vec::new();
        {
            let mut book = self.lock();
            book.entries.retain(|_, e| {
                e.leases.retain(|_, end| *end > now);
                let past_max = e.token.max_end.is_some_and(|m| m <= now);
                if e.leases.is_empty() || past_max {
                    if e.retiring || past_max {
                        to_revoke.push(e.token.clone());
                    }
                    // A cached token without leases needs no entry; the cache revokes it when it leaves.
                    return false;
                }
                let last = e.leases.values().max().copied().unwrap_or(now);
                let short = e.token.expires.is_some_and(|t| t.duration_since(now).unwrap_or_default() < RENEW_BEFORE);
                if e.token.renewable && short && e.token.expires.is_some_and(|t| t < last) {
                    to_renew.push((e.token.key(), last));
                }
                true
            });
            let Book { entries, by_lease } = &mut *book;
            by_lease.retain(|(_, lease), key| entries.get(key).is_some_and(|e| e.leases.contains_key(lease)));
        }
        for token in to_revoke {
            self.revoke_later(token, "retiring token whose leases ended");
        }
        for (key, last) in to_renew {
            self.reach(&key, last).await;
        }
        self.metrics.retiring_tokens(self.retiring());
    }

    /// Make the token reach `target` with `renew-self` if it can; returns its
    /// end afterwards (None: no TTL and no known maximum).
    async fn reach(&self, key: &TokenKey, target: SystemTime) -> Option<SystemTime> {
        let token = self.lock().entries.get(key).map(|e| e.token.clone())?;
        let (expires, max_end) = self.extend(&token, target).await;
        if (expires, max_end) != (token.expires, token.max_end) {
            let mut book = self.lock();
            let entry = book.entries.get_mut(key)?;
            entry.token.expires = expires;
            entry.token.max_end = max_end;
        }
        end_of(expires, max_end)
    }

    /// Renew `token` with `renew-self` so that it reaches `target`, if it can
    /// and must: its expiry and known maximum afterwards.
    async fn extend(&self, token: &TokenRef, target: SystemTime) -> (Option<SystemTime>, Option<SystemTime>) {
        let unchanged = (token.expires, token.max_end);
        let Some(expires) = token.expires else { return unchanged };
        if expires >= target || !token.renewable || token.max_end.is_some_and(|m| m <= expires) {
            return unchanged;
        }
        let accessor = token.accessor.as_str();
        let now = SystemTime::now();
        let wanted = target.duration_since(now).unwrap_or_default() + Duration::from_secs(5);
        let answer = token.vault(&self.http, self.timeout).call(&token.token, Op::RenewSelf(wanted.as_secs())).await;
        let granted = match answer {
            Ok((status, body)) if status.is_success() => {
                body["auth"]["lease_duration"].as_u64().map(Duration::from_secs)
            }
            Ok((status, body)) => {
                tracing::warn!(%accessor, status = status.as_u16(), error = %vault::vault_errors(&body), "renew-self failed");
                None
            }
            Err(e) => {
                tracing::warn!(%accessor, error = %e, "renew-self failed");
                None
            }
        };
        let Some(granted) = granted else { return unchanged };
        let new_end = now + granted;
        if granted < wanted.saturating_sub(Duration::from_secs(5)) {
            // Vault cut the renewal: this is the token's effective maximum.
            tracing::info!(%accessor, granted_s = granted.as_secs(), "renew-self was cut at the token's maximum life");
            return (Some(new_end), Some(new_end));
        }
        (Some(new_end), token.max_end)
    }

    /// Revoke `token` in the background, unless (with the cluster token cache) a
    /// live sealed record still shares it.
    fn revoke_later(self: &Arc<Self>, token: TokenRef, why: &'static str) {
        let book = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            if let Some(cluster) = &book.cluster
                && cluster.still_shared(&token).await
            {
                tracing::info!(tenant = %token.tenant, profile = %token.profile, accessor = %token.accessor, "not revoked: its sealed record is live");
                return;
            }
            book.revoke(&token, why).await;
        });
    }

    /// `revoke-self` with `token`, the outcome logged.
    async fn revoke(&self, token: &TokenRef, why: &'static str) {
        let outcome = token.vault(&self.http, self.timeout).call(&token.token, Op::RevokeSelf).await;
        match outcome {
            Ok((status, _)) if status.is_success() => {
                tracing::info!(tenant = %token.tenant, profile = %token.profile, accessor = %token.accessor, "revoked {why}")
            }
            Ok((status, body)) => tracing::warn!(
                tenant = %token.tenant, profile = %token.profile, status = status.as_u16(),
                error = %vault::vault_errors(&body), "could not revoke {why}"
            ),
            Err(e) => {
                tracing::warn!(tenant = %token.tenant, profile = %token.profile, error = %e, "could not revoke {why}")
            }
        }
    }
}

/// RFC 3339 (seconds) of a time.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A token's latest end: the earlier of its expiry and its known maximum.
fn end_of(expires: Option<SystemTime>, max_end: Option<SystemTime>) -> Option<SystemTime> {
    match (expires, max_end) {
        (Some(e), Some(m)) => Some(e.min(m)),
        (e, m) => e.or(m),
    }
}

#[cfg(test)]
mod tests;
