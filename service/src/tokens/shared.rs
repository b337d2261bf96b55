//! The cluster token cache (`AUTH_SERVICE_TOKEN_SEAL_KEY_FILE`): one login per
//! profile content for the whole cluster, kept across restarts.
//!
//! How it works: a token a login produced is sealed with AES-256-GCM (ring's
//! `aead`, a fresh random nonce per record) and written to the store, bound by
//! its associated data to tenant, profile, content fingerprint and accessor, so
//! a record copied to another profile does not open. A replica whose memory has
//! no token for a profile content reads the store first; only when no usable
//! record is there does it take the content's login lock (a lock row with a
//! deadline, so a holder that dies is taken over once its time is up) and run
//! the agent, then writes the record for the others, who poll for it while they
//! wait (bounded by the login's own limit). A record that does not open (wrong
//! key, tampered row) is logged once without the token, counted, and replaced
//! by a fresh login. The first key in the file seals; every key opens, so keys
//! can be rotated.
//!
//! A token with a live record is not revoked when one replica lets it go (its
//! cache life ended there, or the replica stops): others may still use it.
//! It is revoked when its record goes: a profile replaced or deleted, or Vault
//! refusing the token.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::entry::CachedToken;
use super::{LoginFailure, ProfileLogin};
use crate::leases::TokenRef;
use crate::metrics::Metrics;
use crate::seal::Sealer;
use crate::store::{Store, TokenRecord, epoch, epoch_now, from_epoch};

/// How often a replica waiting for another's login looks for its record.
const POLL: Duration = Duration::from_millis(100);

/// Sealed records in the shared store.
pub struct SharedTokens {
    store: Store,
    /// Tokens whose record is deleted or overwritten are let go through the book
    /// (revoked, or retiring while they back leases), whichever replica holds them.
    book: Arc<crate::leases::LeaseBook>,
    sealer: Arc<Sealer>,
    metrics: Arc<Metrics>,
    /// This process, as the holder of login locks.
    holder: String,
    /// The longest a login may take: the lock's deadline and the wait's bound.
    wait: Duration,
    max_cache_ttl: Duration,
    /// Records already reported as not opening (each is logged once).
    reported: Mutex<HashSet<String>>,
}

/// A content's fingerprint as the records key it.
fn fingerprint(p: &ProfileLogin) -> String {
    hex::encode(p.key.fingerprint)
}

/// What a record is bound to: a record moved to another profile, content or token does not open.
fn associated_data(p: &ProfileLogin, fingerprint: &str, accessor: &str) -> String {
    format!("auth-service token record v1\n{}\n{}\n{fingerprint}\n{accessor}", p.tenant(), p.name())
}

impl SharedTokens {
    /// Sealed records in `store`, sealed and opened by `sealer`.
    pub fn new(
        store: Store,
        book: Arc<crate::leases::LeaseBook>,
        sealer: Arc<Sealer>,
        metrics: Arc<Metrics>,
        wait: Duration,
        max_cache_ttl: Duration,
    ) -> Self {
        let mut holder = [0u8; 8];
        getrandom::fill(&mut holder).expect("the operating system's random source works");
        Self {
            store,
            book,
            sealer,
            metrics,
            holder: hex::encode(holder),
            wait,
            max_cache_ttl,
            reported: Mutex::default(),
        }
    }

    /// A usable token of this content from the store, if there is one and it opens.
    pub async fn restore(&self, p: &ProfileLogin) -> Option<Arc<CachedToken>> {
        let record = match self.store.token_record(p.tenant(), p.name(), &fingerprint(p)).await {
            Ok(r) => r?,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the token record; logging in here");
                return None;
            }
        };
        if record.vault_address != p.address.as_str() || record.namespace != p.namespace.as_deref().unwrap_or("") {
            return None;
        }
        let Some(lease_ref) = self.token_of(p, &record) else {
            self.metrics.unseal_failed();
            let first = self.reported.lock().unwrap_or_else(|e| e.into_inner()).insert(record.accessor.clone());
            if first {
                tracing::error!(
                    tenant = %p.tenant(), profile = %p.name(), accessor = %record.accessor, key_id = %record.key_id,
                    "a sealed token record did not open (wrong AUTH_SERVICE_TOKEN_SEAL_KEY_FILE, or a tampered row); logging in again"
                );
            }
            return None;
        };
        let left = from_epoch(record.cache_until_epoch).duration_since(SystemTime::now()).ok()?;
        Some(Arc::new(CachedToken {
            token: lease_ref.token.clone(),
            cache_for: left,
            accessor: record.accessor.clone(),
            lease_ref,
            cached_at: Instant::now(),
            ttl: Duration::from_secs(u64::try_from(record.ttl_secs).unwrap_or(0)),
            renewed: Mutex::new(None),
            restored: true,
        }))
    }

    /// The token a record holds, as the book lets tokens go (None when it does not open).
    fn token_of(&self, p: &ProfileLogin, record: &TokenRecord) -> Option<TokenRef> {
        let aad = associated_data(p, &record.fingerprint, &record.accessor);
        let token = self.sealer.unseal(&record.key_id, &record.sealed, &aad)?;
        Some(TokenRef {
            token,
            accessor: record.accessor.clone(),
            address: p.address.clone(),
            namespace: p.namespace.clone(),
            tenant: p.tenant().clone(),
            profile: p.name().clone(),
            renewable: record.renewable,
            expires: record.expires_epoch.map(from_epoch),
            max_end: record.max_end_epoch.map(from_epoch),
        })
    }

    /// Let the tokens of `records` go (their records are gone): revoked, or
    /// retiring while they back leases. The replica that removes a record does
    /// it, so a token no replica holds in memory any more is not left alive.
    fn release(&self, p: &ProfileLogin, records: &[TokenRecord]) {
        for record in records {
            if let Some(token) = self.token_of(p, record) {
                self.book.release(&token);
            }
        }
    }

    /// Seal `token` into the store for this content (replacing its record; a
    /// token the record held before is let go).
    pub async fn save(&self, p: &ProfileLogin, token: &CachedToken) {
        let before =
            self.store.token_records_of(p.tenant(), p.name(), Some(&fingerprint(p)), None).await.unwrap_or_default();
        let Some(crate::seal::Sealed { key_id, sealed }) =
            self.sealer.seal(&token.token, &associated_data(p, &fingerprint(p), &token.accessor))
        else {
            tracing::error!("could not seal a token; it stays in this replica's memory only");
            return;
        };
        let left = token.left();
        let record = TokenRecord {
            tenant: p.tenant().clone(),
            profile: p.name().clone(),
            fingerprint: fingerprint(p),
            vault_address: p.address.as_str().to_string(),
            namespace: p.namespace.clone().unwrap_or_default(),
            accessor: token.accessor.clone(),
            ttl_secs: i64::try_from(token.ttl.as_secs()).unwrap_or(i64::MAX),
            renewable: token.lease_ref.renewable,
            expires_epoch: token.expires().map(epoch),
            max_end_epoch: token.lease_ref.max_end.map(epoch),
            cache_until_epoch: epoch(SystemTime::now() + left),
            key_id,
            sealed,
        };
        if let Err(e) = self.store.put_token_record(&record).await {
            tracing::warn!(error = %e, "could not store the sealed token; other replicas will log in themselves");
            return;
        }
        let replaced: Vec<TokenRecord> = before.into_iter().filter(|r| r.accessor != token.accessor).collect();
        self.release(p, &replaced);
    }

    /// Drop this content's record (a `accessor` narrows it to that token), or every record of the profile.
    pub async fn forget(&self, p: &ProfileLogin, whole_profile: bool, accessor: Option<&str>) {
        let fingerprint = fingerprint(p);
        let content = (!whole_profile).then_some(fingerprint.as_str());
        let records = self.store.token_records_of(p.tenant(), p.name(), content, accessor).await.unwrap_or_default();
        if let Err(e) = self.store.delete_token_records(p.tenant(), p.name(), content, accessor).await {
            tracing::warn!(error = %e, "could not delete a token record; it ends with its cache life");
            return;
        }
        // A record of another content of a deleted profile opens only with its own
        // fingerprint in the associated data, which `token_of` takes from the record.
        self.release(p, &records);
    }

    /// A token for `p` for the whole cluster: a record another replica (or an
    /// earlier run) wrote, or one login here under the content's lock, or, when
    /// the lock's holder takes longer than a login may, a login here anyway.
    pub async fn obtain<F, Fut>(&self, p: &ProfileLogin, login: F) -> Result<Arc<CachedToken>, LoginFailure>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<super::FreshToken, LoginFailure>>,
    {
        let deadline = Instant::now() + self.wait;
        let lock = format!("{}/{}/{}", p.tenant(), p.name(), fingerprint(p));
        let mut locked = false;
        loop {
            if let Some(token) = self.restore(p).await {
                self.metrics.login("from_store");
                return Ok(token);
            }
            let until = epoch_now() + i64::try_from(self.wait.as_secs()).unwrap_or(60) + 1;
            match self.store.try_login_lock(&lock, &self.holder, until).await {
                Ok(true) => {
                    locked = true;
                    // A record may have landed between the read and the lock.
                    if let Some(token) = self.restore(p).await {
                        self.unlock(&lock).await;
                        self.metrics.login("from_store");
                        return Ok(token);
                    }
                    break;
                }
                Ok(false) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Ok(false) => {
                    tracing::warn!(tenant = %p.tenant(), profile = %p.name(), "another replica's login took longer than a login may; logging in here");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the login lock is unavailable; logging in here");
                    break;
                }
            }
        }
        let result = login().await.map(|fresh| super::entry::cached(p, &fresh, self.max_cache_ttl));
        if let Ok(token) = &result {
            self.metrics.login("local");
            self.save(p, token).await;
        }
        if locked {
            self.unlock(&lock).await;
        }
        result
    }

    async fn unlock(&self, lock: &str) {
        if let Err(e) = self.store.release_login_lock(lock, &self.holder).await {
            tracing::warn!(error = %e, "could not release a login lock; it ends at its deadline");
        }
    }

    /// The accessor of the token this content's record holds now, if one is usable.
    pub async fn current_accessor(&self, p: &ProfileLogin) -> Option<String> {
        self.store.token_record(p.tenant(), p.name(), &fingerprint(p)).await.ok().flatten().map(|r| r.accessor)
    }

    /// Publish the number of usable records.
    pub async fn report(&self) {
        if let Ok(n) = self.store.count_token_records().await {
            self.metrics.token_records("active", n);
        }
        if let Ok(n) = self.store.count_retiring_tokens().await {
            self.metrics.token_records("retiring", n);
        }
    }
}
