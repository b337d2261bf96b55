//! A cached token: what it holds, how long it stays (its TTL minus 2 minutes),
//! when it is due for a refresh, and renewing it in place.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::Expiry;
use secrecy::SecretString;

use super::{FreshToken, ProfileKey, ProfileLogin};
use crate::leases::TokenRef;
use crate::login::Login;

/// Tokens whose TTL is at or under this are not cached.
pub const CACHE_MARGIN: Duration = Duration::from_secs(120);

/// A cached token.
pub struct CachedToken {
    /// The token.
    pub token: SecretString,
    /// How long the cache keeps it.
    pub cache_for: Duration,
    /// Its Vault accessor (not a secret; used for revocation checks in logs).
    pub accessor: String,
    /// What the lease book needs to keep it alive or revoke it.
    pub lease_ref: TokenRef,
    /// When it entered the cache.
    pub cached_at: Instant,
    /// Its TTL as issued (what a `renew-self` asks for again).
    pub ttl: Duration,
    /// The life after the latest renewal in place: (renewed at, cache life, token end).
    /// A renewal changes the entry itself, never replaces it, so a replaced
    /// entry always means another token (and its old one is released).
    pub renewed: std::sync::Mutex<Option<(Instant, Duration, Option<SystemTime>)>>,
    /// Taken from the cluster's store (another replica's login, or an earlier
    /// run's), not from an agent run here: a read refused with it has not yet
    /// had its one fresh login.
    pub restored: bool,
}

impl CachedToken {
    /// (since when, how long) the cache keeps it, counting renewals in place.
    pub fn life(&self) -> (Instant, Duration) {
        match *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, cache_for, _)) => (at, cache_for),
            None => (self.cached_at, self.cache_for),
        }
    }

    /// How long the cache keeps it from now.
    pub fn left(&self) -> Duration {
        let (at, cache_for) = self.life();
        cache_for.saturating_sub(at.elapsed())
    }

    /// When the token itself ends, counting renewals in place (None: no TTL).
    pub fn expires(&self) -> Option<SystemTime> {
        match *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((_, _, end)) => end,
            None => self.lease_ref.expires,
        }
    }

    /// Renewed in place: a new cache life from now, and the token's new end.
    pub fn renew(&self, cache_for: Duration, expires: Option<SystemTime>) {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), cache_for, expires));
    }
}

pub(super) struct TtlExpiry;

impl Expiry<ProfileKey, Arc<CachedToken>> for TtlExpiry {
    fn expire_after_create(&self, _k: &ProfileKey, v: &Arc<CachedToken>, _now: std::time::Instant) -> Option<Duration> {
        Some(v.cache_for)
    }

    /// A read sees the life as renewed in place.
    fn expire_after_read(
        &self,
        _k: &ProfileKey,
        v: &Arc<CachedToken>,
        _read_at: std::time::Instant,
        _left: Option<Duration>,
        _last_modified: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.left())
    }

    /// A replaced entry (test connection, a refresh) lives for its own cache life.
    fn expire_after_update(
        &self,
        _k: &ProfileKey,
        v: &Arc<CachedToken>,
        _now: std::time::Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.cache_for)
    }
}

/// A token enters the last part of its cache life (then one refresh runs ahead).
pub(super) fn due_for_refresh(t: &CachedToken) -> bool {
    let (at, cache_for) = t.life();
    !cache_for.is_zero() && at.elapsed() >= cache_for.mul_f64(2.0 / 3.0)
}

/// The cache entry for a fresh token.
pub(super) fn cached(p: &ProfileLogin, fresh: &FreshToken, max_cache_ttl: Duration) -> Arc<CachedToken> {
    let now = SystemTime::now();
    Arc::new(CachedToken {
        token: fresh.token.clone(),
        cache_for: cache_lifetime(fresh.info.ttl, max_cache_ttl),
        accessor: fresh.info.accessor.clone(),
        lease_ref: TokenRef {
            token: fresh.token.clone(),
            accessor: fresh.info.accessor.clone(),
            address: p.address.clone(),
            namespace: p.namespace.clone(),
            tenant: p.tenant().clone(),
            profile: p.name().clone(),
            renewable: fresh.info.renewable,
            expires: (!fresh.info.ttl.is_zero()).then(|| now + fresh.info.ttl),
            max_end: (!fresh.info.explicit_max_ttl.is_zero()).then(|| now + fresh.info.explicit_max_ttl),
        },
        cached_at: Instant::now(),
        ttl: fresh.info.ttl,
        renewed: std::sync::Mutex::new(None),
        restored: false,
    })
}

/// How long a token with `ttl` stays cached: TTL minus 120 s (nothing at or
/// under 120 s); `max` (`AUTH_SERVICE_TOKEN_MAX_CACHE_TTL`) caps only a token
/// without a TTL.
pub fn cache_lifetime(ttl: Duration, max: Duration) -> Duration {
    if ttl.is_zero() { max } else { ttl.saturating_sub(CACHE_MARGIN) }
}

/// `renew-self` for the token's original TTL: the same token, a new cache life
/// (and its new end), which the caller sets on the entry ([`CachedToken::renew`]).
pub(super) async fn renew_in_place(
    login: &Login,
    old: &CachedToken,
    timeout: Duration,
    max_cache_ttl: Duration,
) -> Option<(Duration, SystemTime)> {
    let t = &old.lease_ref;
    let vault = crate::vault::VaultClient {
        http: login.http(),
        address: &t.address,
        namespace: t.namespace.as_deref(),
        timeout,
    };
    let (status, answer) = vault.call(&t.token, crate::vault::Op::RenewSelf(old.ttl.as_secs())).await.ok()?;
    if !status.is_success() {
        return None;
    }
    let ttl = Duration::from_secs(agent_runner::verify::vault_seconds(answer["auth"].get("lease_duration"))?);
    if ttl <= CACHE_MARGIN {
        // Near its maximum life: a renewal buys nothing; let a fresh login replace it.
        return None;
    }
    Some((cache_lifetime(ttl, max_cache_ttl), SystemTime::now() + ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_cached_for_their_ttl_minus_two_minutes_and_only_ttl_less_ones_use_the_maximum() {
        let cap = Duration::from_secs(3600);
        let cache_for = |ttl: u64| cache_lifetime(Duration::from_secs(ttl), cap);
        assert_eq!(cache_for(600), Duration::from_secs(480));
        assert_eq!(cache_for(120), Duration::ZERO);
        assert_eq!(cache_for(60), Duration::ZERO);
        assert_eq!(cache_for(0), cap, "the maximum caps only tokens without a TTL");
        assert_eq!(cache_for(86_400), Duration::from_secs(86_280), "a long TTL is not capped");
    }
}
