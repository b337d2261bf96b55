//! The cold path of [`Tokens::get`]: exactly one login per profile content for
//! every waiting read (moka's `try_get_with` is the single flight, or the
//! cluster's login lock with the sealed cache), the back-off after a failure,
//! logins that finish even when their first caller gives up, and the refresh of
//! a token ahead of its end while reads keep using it.

use std::sync::Arc;
use std::time::Duration;

use super::entry::{cached, renew_in_place};
use super::{CachedToken, LoginFailure, ProfileKey, ProfileLogin, Step, TokenError, Tokens};

impl Tokens {
    /// [`Self::get`] without a cached token: wait for the single login (or the back-off).
    pub(super) async fn get_cold(
        &self,
        p: &ProfileLogin,
        key: ProfileKey,
    ) -> Result<(Arc<CachedToken>, bool), TokenError> {
        self.metrics.cache_miss();
        if let Some((last, retry_after)) = self.backoff.state(&p.key) {
            return Err(TokenError::BackingOff { last, retry_after });
        }
        let result = self
            .cache
            .try_get_with(key, async {
                let outcome = self.login_detached(p).await;
                match outcome {
                    Ok(token) => {
                        self.backoff.clear(&p.key);
                        Ok(token)
                    }
                    Err(failure) => {
                        // A full queue is not the profile's fault: no back-off, a short Retry-After.
                        let retry_after =
                            if failure.busy { Duration::from_secs(1) } else { self.backoff.record(&p.key, &failure) };
                        Err((failure, retry_after))
                    }
                }
            })
            .await;
        match result {
            Ok(token) => {
                if self.retired.contains_key(&p.key) {
                    // The profile changed or went while this login ran: the read that asked
                    // for it finishes (or sees the change), and the token is let go now.
                    self.cache.invalidate(&p.key).await;
                }
                // A token from the store counts as a cache hit: a read refused with it still gets its one login.
                let restored = token.restored;
                Ok((token, restored))
            }
            Err(e) => {
                let (failure, retry_after) = (*e).clone();
                Err(TokenError::LoginFailed { failure, retry_after })
            }
        }
    }

    /// One login for `p` (through the cluster's store when it is on) in a task
    /// of its own. When every read waiting for it leaves before the agent is
    /// done, the login is dropped (the agent killed, its folder removed); when
    /// they leave in the moment between its end and the answer, its token still
    /// goes into the cache (and so is released like any other), or straight to
    /// release when the profile changed meanwhile.
    async fn login_detached(&self, p: &ProfileLogin) -> Result<Arc<CachedToken>, LoginFailure> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (login, shared, metrics, cache) =
            (self.login.clone(), self.shared.clone(), self.metrics.clone(), self.cache.clone());
        let (book, retired, max) = (self.book.clone(), self.retired.clone(), self.max_cache_ttl);
        let p = Arc::new(p.clone());
        let mut tx = tx;
        tokio::spawn(async move {
            let work = async {
                match &shared {
                    Some(shared) => shared.obtain(&p, || login.login(&p)).await,
                    None => login.login(&p).await.map(|fresh| {
                        metrics.login("local");
                        cached(&p, &fresh, max)
                    }),
                }
            };
            // Every read waiting for it left before the agent finished (a request over its
            // time): the login is dropped, which kills its agent and removes its run folder.
            let outcome = tokio::select! {
                outcome = work => outcome,
                () = tx.closed() => return,
            };
            if let Err(Ok(token)) = tx.send(outcome) {
                if retired.contains_key(&p.key) {
                    book.release(&token.lease_ref);
                } else {
                    tracing::debug!(tenant = %p.tenant(), profile = %p.name(), "a login finished after its readers left; its token is kept in the cache");
                    cache.insert(p.key.clone(), token).await;
                }
            }
        });
        match rx.await {
            Ok(outcome) => outcome,
            Err(_) => Err(LoginFailure {
                step: Step::AgentLogin,
                detail: "the login ended without an answer (the service is stopping)".into(),
                hint: Some("retry in a moment".into()),
                elapsed: Duration::ZERO,
                login_elapsed: None,
                assumed: None,
                busy: true,
            }),
        }
    }

    /// Refresh a token in the last part of its cache life, once per profile,
    /// in the background: reads keep using it meanwhile. A renewable token is
    /// extended with `renew-self` (no agent run); otherwise one fresh login
    /// replaces it. A failed refresh leaves the old token in place until its
    /// cache life ends, and follows the back-off.
    pub(super) fn refresh_ahead(&self, p: &ProfileLogin, old: &Arc<CachedToken>) {
        if self.backoff.state(&p.key).is_some() {
            return;
        }
        if !self.refreshing.lock().unwrap_or_else(|e| e.into_inner()).insert(p.key.clone()) {
            return;
        }
        let (p, old) = (Arc::new(p.clone()), old.clone());
        let (cache, login, refreshing) = (self.cache.clone(), self.login.clone(), self.refreshing.clone());
        let (backoff, metrics, max_cache_ttl, timeout) =
            (self.backoff.clone(), self.metrics.clone(), self.max_cache_ttl, self.vault_timeout);
        let shared = self.shared.clone();
        let book = self.book.clone();
        tokio::spawn(async move {
            let renewed = if old.lease_ref.renewable && !old.ttl.is_zero() {
                renew_in_place(&login, &old, timeout, max_cache_ttl).await
            } else {
                None
            };
            if let Some((cache_for, expires)) = renewed {
                // The same token with a new life: the entry itself changes, nothing is replaced.
                old.renew(cache_for, Some(expires));
                metrics.token_refresh("ok");
                if let Some(shared) = &shared
                    && cache.get(&p.key).await.is_some_and(|cur| Arc::ptr_eq(&cur, &old))
                {
                    shared.save(&p, &old).await;
                }
                refreshing.lock().unwrap_or_else(|e| e.into_inner()).remove(&p.key);
                return;
            }
            let outcome = login.login(&p).await.map(|fresh| cached(&p, &fresh, max_cache_ttl));
            match outcome {
                Ok(token) => {
                    metrics.token_refresh("ok");
                    // Only if the entry is still the one that was refreshed (no replace or test since).
                    if cache.get(&p.key).await.is_some_and(|cur| Arc::ptr_eq(&cur, &old)) {
                        if let Some(shared) = &shared {
                            shared.save(&p, &token).await;
                        }
                        cache.insert(p.key.clone(), token).await;
                    } else {
                        // Replaced, tested or deleted meanwhile: a new token nobody will use is let go at once.
                        book.release(&token.lease_ref);
                    }
                }
                Err(failure) => {
                    metrics.token_refresh("failed");
                    tracing::warn!(tenant = %p.tenant(), profile = %p.name(), error = %failure.detail, "refreshing the token ahead of its end failed; the current one stays until it ends");
                    backoff.record(&p.key, &failure);
                }
            }
            refreshing.lock().unwrap_or_else(|e| e.into_inner()).remove(&p.key);
        });
    }
}
