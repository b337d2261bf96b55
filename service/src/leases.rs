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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde_json::json;

use crate::domain::{ProfileName, TenantId, VaultAddress};
use crate::metrics::Metrics;
use crate::vault;

/// The most retiring tokens kept at once; beyond it a released token is revoked (and its leases end).
pub const MAX_RETIRING: usize = 10_000;

/// Renew a token that backs live leases when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// A token as the book needs it.
#[derive(Clone)]
pub struct TokenRef {
    /// The token.
    pub token: SecretString,
    /// Its accessor (the book's key; not a secret).
    pub accessor: String,
    /// Where it lives.
    pub address: VaultAddress,
    /// Its namespace.
    pub namespace: Option<String>,
    /// The profile it belongs to.
    pub tenant: TenantId,
    /// The profile it belongs to.
    pub profile: ProfileName,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
    /// When it expires now (None: no TTL).
    pub expires: Option<SystemTime>,
    /// Its known hard limit.
    pub max_end: Option<SystemTime>,
}

struct Entry {
    token: TokenRef,
    leases: HashMap<String, SystemTime>,
    retiring: bool,
}

impl Book {
    /// Take a token's entry out, with its leases' index rows.
    fn remove(&mut self, accessor: &str) -> Option<Entry> {
        let entry = self.entries.remove(accessor)?;
        for lease in entry.leases.keys() {
            self.by_lease.remove(lease);
        }
        Some(entry)
    }
}

impl Entry {
    fn live(&self, now: SystemTime) -> bool {
        self.leases.values().any(|end| *end > now)
    }
}

/// The tokens by accessor, and an index from each lease to its token's accessor.
#[derive(Default)]
struct Book {
    entries: HashMap<String, Entry>,
    by_lease: HashMap<String, String>,
}

/// Leases per issuing token, and the retiring tokens.
pub struct LeaseBook {
    book: Mutex<Book>,
    http: reqwest::Client,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

impl LeaseBook {
    /// An empty book.
    pub fn new(http: reqwest::Client, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        Self { book: Mutex::new(Book::default()), http, timeout, metrics }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tokens now retiring.
    pub fn retiring(&self) -> usize {
        self.lock().entries.values().filter(|e| e.retiring).count()
    }

    /// Record a lease `token` issued for `duration`; returns its honest end.
    pub async fn record(&self, token: &TokenRef, lease_id: &str, duration: Duration) -> SystemTime {
        let lease_end = SystemTime::now() + duration;
        self.lock().entries.entry(token.accessor.clone()).or_insert_with(|| Entry {
            token: token.clone(),
            leases: HashMap::new(),
            retiring: false,
        });
        let token_end = self.reach(&token.accessor, lease_end).await;
        let expires = token_end.map_or(lease_end, |t| t.min(lease_end));
        let mut book = self.lock();
        if let Some(e) = book.entries.get_mut(&token.accessor) {
            e.leases.insert(lease_id.to_string(), expires);
            book.by_lease.insert(lease_id.to_string(), token.accessor.clone());
        }
        expires
    }

    /// A lease was renewed to `lease_end`: make its issuing token (if this
    /// replica holds it) reach that end. Returns the honest end.
    pub async fn renewed(&self, lease_id: &str, lease_end: SystemTime) -> SystemTime {
        let accessor = self.lock().by_lease.get(lease_id).cloned();
        let Some(accessor) = accessor else { return lease_end };
        let token_end = self.reach(&accessor, lease_end).await;
        let expires = token_end.map_or(lease_end, |t| t.min(lease_end));
        if let Some(e) = self.lock().entries.get_mut(&accessor) {
            e.leases.insert(lease_id.to_string(), expires);
        }
        expires
    }

    /// A lease was revoked.
    pub fn revoked(&self, lease_id: &str) {
        let mut book = self.lock();
        if let Some(accessor) = book.by_lease.remove(lease_id)
            && let Some(e) = book.entries.get_mut(&accessor)
        {
            e.leases.remove(lease_id);
        }
    }

    /// The issuing token of a lease, if this replica holds it.
    pub fn issuer(&self, lease_id: &str) -> Option<TokenRef> {
        let book = self.lock();
        book.by_lease.get(lease_id).and_then(|a| book.entries.get(a)).map(|e| e.token.clone())
    }

    /// The service no longer uses `token` for reads: keep it (retiring) while it
    /// backs live leases, else revoke it now. Returns whether it was kept.
    pub fn release(self: &Arc<Self>, token: &TokenRef) -> bool {
        let now = SystemTime::now();
        let kept = {
            let mut book = self.lock();
            let retiring = book.entries.values().filter(|e| e.retiring).count();
            match book.entries.get_mut(&token.accessor) {
                Some(e) if e.live(now) && (e.retiring || retiring < MAX_RETIRING) => {
                    e.retiring = true;
                    true
                }
                Some(_) => {
                    book.remove(&token.accessor);
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
        let mut to_revoke = Vec::new();
        {
            let mut book = self.lock();
            let keys: Vec<String> = book
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
                    to_renew.push((e.token.accessor.clone(), last));
                }
                true
            });
            let Book { entries, by_lease } = &mut *book;
            by_lease.retain(|lease, accessor| entries.get(accessor).is_some_and(|e| e.leases.contains_key(lease)));
        }
        for token in to_revoke {
            self.revoke_later(token, "retiring token whose leases ended");
        }
        for (accessor, last) in to_renew {
            self.reach(&accessor, last).await;
        }
        self.metrics.retiring_tokens(self.retiring());
    }

    /// Make the token reach `target` with `renew-self` if it can; returns its
    /// end afterwards (None: no TTL and no known maximum).
    async fn reach(&self, accessor: &str, target: SystemTime) -> Option<SystemTime> {
        let token = self.lock().entries.get(accessor).map(|e| e.token.clone())?;
        let capped = |end: Option<SystemTime>| match (end, token.max_end) {
            (Some(e), Some(m)) => Some(e.min(m)),
            (e, m) => e.or(m),
        };
        let Some(expires) = token.expires else { return capped(None) };
        if expires >= target || !token.renewable || token.max_end.is_some_and(|m| m <= expires) {
            return capped(Some(expires));
        }
        let now = SystemTime::now();
        let wanted = target.duration_since(now).unwrap_or_default() + Duration::from_secs(5);
        let body = json!({ "increment": wanted.as_secs() });
        let answer = vault::put(
            &self.http,
            &token.address,
            token.namespace.as_deref(),
            &token.token,
            "auth/token/renew-self",
            &body,
            self.timeout,
        )
        .await;
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
        let Some(granted) = granted else { return capped(Some(expires)) };
        let new_end = now + granted;
        let mut book = self.lock();
        let entry = book.entries.get_mut(accessor)?;
        entry.token.expires = Some(new_end);
        if granted < wanted.saturating_sub(Duration::from_secs(5)) {
            // Vault cut the renewal: this is the token's effective maximum.
            tracing::info!(%accessor, granted_s = granted.as_secs(), "renew-self was cut at the token's maximum life");
            entry.token.max_end = Some(new_end);
        }
        let token = entry.token.clone();
        drop(book);
        match (Some(new_end), token.max_end) {
            (Some(e), Some(m)) => Some(e.min(m)),
            (e, _) => e,
        }
    }

    fn revoke_later(self: &Arc<Self>, token: TokenRef, why: &'static str) {
        let book = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let outcome = vault::put(
                &book.http,
                &token.address,
                token.namespace.as_deref(),
                &token.token,
                "auth/token/revoke-self",
                &json!({}),
                book.timeout,
            )
            .await;
            match outcome {
                Ok((status, _)) if status.is_success() => {
                    tracing::info!(tenant = %token.tenant, profile = %token.profile, accessor = %token.accessor, "revoked {why}")
                }
                Ok((status, body)) => tracing::warn!(
                    tenant = %token.tenant, profile = %token.profile, status = status.as_u16(),
                    error = %vault::vault_errors(&body), "could not revoke {why}"
                ),
                Err(e) => tracing::warn!(tenant = %token.tenant, profile = %token.profile, error = %e, "could not revoke {why}"),
            }
        });
    }
}

/// RFC 3339 (seconds) of a time.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(accessor: &str, profile: &str) -> TokenRef {
        TokenRef {
            token: SecretString::from(format!("s.{accessor}")),
            accessor: accessor.into(),
            address: VaultAddress::parse("http://127.0.0.1:8200").expect("address"),
            namespace: None,
            tenant: TenantId::parse("t").expect("tenant"),
            profile: ProfileName::parse(profile).expect("profile"),
            renewable: false,
            expires: None,
            max_end: None,
        }
    }

    #[tokio::test]
    async fn the_lease_index_follows_records_revocations_and_released_tokens() {
        let http = agent_runner::http::client_builder().build().expect("client");
        let book = Arc::new(LeaseBook::new(http, Duration::from_secs(1), Arc::new(Metrics::default())));
        let hour = Duration::from_secs(3600);
        for i in 0..1000 {
            book.record(&token(&format!("a{}", i % 10), "p"), &format!("db/creds/app/{i}"), hour).await;
        }
        assert_eq!(book.issuer("db/creds/app/7").map(|t| t.accessor), Some("a7".into()));
        assert_eq!(book.issuer("db/creds/app/999").map(|t| t.accessor), Some("a9".into()));
        assert!(book.issuer("db/creds/app/1000").is_none());
        book.revoked("db/creds/app/7");
        assert!(book.issuer("db/creds/app/7").is_none(), "a revoked lease leaves the index");
        assert_eq!(book.issuer("db/creds/app/17").map(|t| t.accessor), Some("a7".into()), "its token's others stay");
        // A deleted profile's tokens go with their index rows.
        book.forget_profile(&TenantId::parse("t").expect("tenant"), &ProfileName::parse("p").expect("p"), false);
        assert!(book.issuer("db/creds/app/17").is_none());
        assert!(book.lock().by_lease.is_empty());
    }
}
