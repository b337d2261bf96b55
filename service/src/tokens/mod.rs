//! The token cache and login back-off.
//!
//! How it works: [`Tokens::get`] serves reads: a cached token if there is one;
//! otherwise exactly one login ([`crate::login`]) per stored profile content
//! ([`ProfileKey`]) however many requests wait for it (moka's `try_get_with` is
//! the single flight). A token lives in the cache for its TTL minus 120 s. A
//! failed login starts a back-off for that profile (doubling up to a maximum)
//! during which reads get 503 instead of spawning agents. Superseded tokens are
//! revoked in the background.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::future::Cache;

mod backoff;
mod cold;
mod entry;
mod shared;

use crate::config::Settings;
use crate::ec2::InstanceIdentity;
use crate::leases::LeaseBook;
use crate::login::Login;
pub use crate::login::{FreshToken, LoginFailure, ProfileKey, ProfileLogin, Step};
use crate::metrics::Metrics;
use crate::store::Store;
use backoff::Pauses;
pub use entry::{CACHE_MARGIN, CachedToken, cache_lifetime};
use entry::{TtlExpiry, cached, due_for_refresh};

/// Why a read could not get a token.
pub enum TokenError {
    /// The profile is in back-off after failed logins.
    BackingOff {
        /// The last failure.
        last: LoginFailure,
        /// Time left.
        retry_after: Duration,
    },
    /// The login just failed.
    LoginFailed {
        /// The failure.
        failure: LoginFailure,
        /// The back-off that now applies.
        retry_after: Duration,
    },
}

/// Logins, cache and back-off.
pub struct Tokens {
    login: Arc<Login>,
    /// Profiles whose token is being refreshed ahead of its end (single flight).
    refreshing: Arc<Mutex<std::collections::HashSet<ProfileKey>>>,
    vault_timeout: Duration,
    max_cache_ttl: Duration,
    cache: Cache<ProfileKey, Arc<CachedToken>>,
    backoff: Arc<Pauses>,
    metrics: Arc<Metrics>,
    book: Arc<LeaseBook>,
    sweeper: tokio::task::JoinHandle<()>,
    /// The cluster token cache, when a seal key file is set.
    shared: Option<Arc<shared::SharedTokens>>,
    /// Profile contents retired by a change (replace, delete, nonce reset) in the
    /// last minutes: a login still in flight for one of them has its token
    /// released as soon as it lands, instead of at the end of its cache life.
    retired: moka::sync::Cache<ProfileKey, ()>,
}

impl Drop for Tokens {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

impl Tokens {
    /// Build from the settings.
    pub fn new(settings: &Settings, store: Store, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        let sealer = settings.token_seal_keys.as_ref().map(|keys| Arc::new(crate::seal::Sealer::new(keys)));
        let mut book = LeaseBook::new(http.clone(), settings.vault_timeout, metrics.clone());
        if let Some(sealer) = &sealer {
            let mut holder = [0u8; 8];
            getrandom::fill(&mut holder).expect("the operating system's random source works");
            book = book.with_cluster(crate::leases::Retiring::new(store.clone(), sealer.clone(), hex::encode(holder)));
        }
        let book = Arc::new(book);
        let shared = settings.token_seal_keys.as_ref().zip(sealer).map(|(keys, sealer)| {
            if keys.loose_mode {
                tracing::warn!(file = %keys.file.display(), "the token seal key file is readable by others than its owner; make it 0400 (or 0440 for a group)");
            }
            // A login may take the agent's limit, its queue wait and the Vault calls around it.
            let wait = settings.agent_timeout + settings.agent_queue_timeout + settings.vault_timeout * 2;
            Arc::new(shared::SharedTokens::new(
                store.clone(),
                book.clone(),
                sealer,
                metrics.clone(),
                wait,
                settings.token_max_cache_ttl,
            ))
        });
        let listener_book = book.clone();
        // Every token that leaves the cache (replaced, invalidated, expired, evicted)
        // is released: kept while it backs live leases, else revoked.
        let cache: Cache<ProfileKey, Arc<CachedToken>> = Cache::builder()
            .max_capacity(100_000)
            .expire_after(TtlExpiry)
            // A renewal in place changes the entry itself, so a removed entry is always let go.
            .eviction_listener(move |_key, token: Arc<CachedToken>, _cause| {
                listener_book.release(&token.lease_ref);
            })
            .build();
        let sweeper = {
            let (cache, book) = (cache.clone(), book.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    cache.run_pending_tasks().await;
                    book.sweep().await;
                    book.sweep_retiring().await;
                }
            })
        };
        Self {
            retired: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.agent_timeout + settings.agent_queue_timeout + Duration::from_secs(60))
                .build(),
            shared,
            book,
            sweeper,
            login: Arc::new(Login::new(settings, store, http, metrics.clone())),
            refreshing: Arc::default(),
            vault_timeout: settings.vault_timeout,
            max_cache_ttl: settings.token_max_cache_ttl,
            cache,
            backoff: Arc::new(Pauses::new(settings.login_backoff_initial, settings.login_backoff_max)),
            metrics,
        }
    }

    /// Publish the sealed records' count (when the cluster cache is on).
    pub async fn report_records(&self) {
        if let Some(shared) = &self.shared {
            shared.report().await;
        }
    }

    /// Publish the caches' sizes to the metrics.
    pub fn report_cache_sizes(&self) {
        self.metrics.cache_size("tokens", self.cache.entry_count());
    }

    /// The HTTP client for Vault calls.
    pub fn http(&self) -> &reqwest::Client {
        self.login.http()
    }

    /// Timeout of each Vault call.
    pub fn vault_timeout(&self) -> Duration {
        self.vault_timeout
    }

    /// A profile's Vault, with this service's client and time limit.
    pub fn vault<'a>(&'a self, login: &'a ProfileLogin) -> crate::vault::VaultClient<'a> {
        login.vault(self.http(), self.vault_timeout)
    }

    /// A token's own Vault (the one it was issued by), with this service's client and time limit.
    pub fn vault_of<'a>(&'a self, token: &'a crate::leases::TokenRef) -> crate::vault::VaultClient<'a> {
        crate::vault::VaultClient {
            http: self.http(),
            address: &token.address,
            namespace: token.namespace.as_deref(),
            timeout: self.vault_timeout,
        }
    }

    /// The host's EC2 identity reader.
    pub fn identity(&self) -> &InstanceIdentity {
        self.login.identity()
    }

    /// Run one agent for `p` and verify its token. Ignores cache and back-off.
    pub async fn login(&self, p: &ProfileLogin) -> Result<FreshToken, LoginFailure> {
        self.login.login(p).await
    }

    /// The cache entry for a fresh token.
    fn cached(&self, p: &ProfileLogin, fresh: &FreshToken) -> Arc<CachedToken> {
        cached(p, fresh, self.max_cache_ttl)
    }

    /// Revoke a fresh token that is not to be cached (a dry-run test).
    pub fn discard(&self, p: &ProfileLogin, fresh: &FreshToken) {
        self.book.release(&self.cached(p, fresh).lease_ref);
    }

    /// The lease book (dynamic secrets and retiring tokens).
    pub fn leases(&self) -> &Arc<LeaseBook> {
        &self.book
    }

    /// A token for reads: cached, or from exactly one login for all concurrent callers.
    pub async fn get(&self, p: &ProfileLogin) -> Result<(Arc<CachedToken>, bool), TokenError> {
        let key = p.key.clone();
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache_hit();
            if due_for_refresh(&hit) {
                self.refresh_ahead(p, &hit);
            }
            return Ok((hit, true));
        }
        // Boxed: the login future is large, and a warm read should not carry (and move) it.
        Box::pin(self.get_cold(p, key)).await
    }

    /// Put a token from test connection in the cache; the one it replaces is
    /// released (revoked, or retiring while it backs live leases).
    pub async fn store_fresh(&self, p: &ProfileLogin, fresh: &FreshToken) {
        self.backoff.clear(&p.key);
        let token = self.cached(p, fresh);
        if let Some(shared) = &self.shared {
            shared.save(p, &token).await;
        }
        self.cache.insert(p.key.clone(), token).await;
    }

    /// Whether `used` is no longer the token reads of this profile content get
    /// (a change retired it, or a newer one replaced it).
    pub async fn superseded(&self, p: &ProfileLogin, used: &Arc<CachedToken>) -> bool {
        if self.retired.contains_key(&p.key) || self.cache.get(&p.key).await.is_none_or(|cur| !Arc::ptr_eq(&cur, used))
        {
            return true;
        }
        // With the cluster cache, another replica may have replaced it (a test connection, a refresh).
        match &self.shared {
            Some(shared) => shared.current_accessor(p).await.as_deref() != Some(used.accessor.as_str()),
            None => false,
        }
    }

    /// Drop the cached token of this profile revision if it is still `used`
    /// (after Vault refused it), revoking it.
    pub async fn invalidate_if_same(&self, p: &ProfileLogin, used: &Arc<CachedToken>) {
        let key = p.key.clone();
        // A token another replica replaced goes from this one's memory too.
        let same =
            self.cache.get(&key).await.is_some_and(|cur| Arc::ptr_eq(&cur, used) || cur.accessor == used.accessor);
        if let Some(shared) = &self.shared {
            // Vault refused it: no replica should use it again.
            shared.forget(p, false, Some(&used.accessor)).await;
        }
        if same {
            self.cache.invalidate(&key).await;
        }
    }

    /// Forget a profile revision (replace, nonce reset): its token is released
    /// (revoked, or retiring while it backs live leases); back-off cleared.
    pub async fn forget(&self, p: &ProfileLogin) {
        self.backoff.clear(&p.key);
        self.retired.insert(p.key.clone(), ());
        // The record first: the token is revoked only once no replica can take it up again.
        if let Some(shared) = &self.shared {
            shared.forget(p, false, None).await;
        }
        self.cache.invalidate(&p.key).await;
    }

    /// A profile is deleted: its tokens are revoked, and with them the leases
    /// they issued, unless `keep_leases` lets them retire until those leases end.
    pub async fn forget_deleted(&self, p: &ProfileLogin, keep_leases: bool) {
        if let Some(shared) = &self.shared {
            shared.forget(p, true, None).await;
        }
        self.forget(p).await;
        self.book.forget_profile(p.tenant(), p.name(), keep_leases);
    }
}
