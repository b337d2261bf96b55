//! The opt-in secret cache: a profile's `secret_cache_ttl` keeps Vault's answers
//! in memory for that long, so a connector polling a static secret costs no
//! Vault call. Off by default.
//!
//! Rules:
//! - An entry belongs to one stored profile content (tenant, name, revision,
//!   content digest), one path and the read parameters a shared answer may
//!   depend on (`version`, list or not): a changed profile never answers from
//!   an older content's entries, and they are dropped when the change is seen.
//!   A read with any other query parameter is neither served from nor kept in
//!   the cache, so random parameters cannot multiply entries.
//! - Revoking a lease drops every entry that carries it.
//! - An answer with a lease (dynamic credentials) is cached only when the
//!   profile says so (`secret_cache_leased`); otherwise every caller gets its
//!   own credentials. A cached lease lives at most its duration minus a margin
//!   (a tenth of it, at least 10 s), and a hit reports the lease's remaining time.
//! - An answer carrying a `lease_duration` without a lease (KV v1's refresh hint)
//!   is kept at most that long minus the same margin.
//! - Only successful reads are kept; refusals and misses go to Vault each time.
//! - Memory is bounded by size ([`CAPACITY_BYTES`]): each entry weighs its
//!   answer, its key and a fixed overhead; least recently used first out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::domain::ProfileKey;
use crate::domain::{ProfileName, TenantId};

/// The most memory the cached answers take (by their JSON size).
pub const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// The longest `secret_cache_ttl` a profile may set.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// A profile's cache settings (present only when the cache is on).
pub use crate::domain::SecretCachePolicy as Policy;

/// Which answer an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryKey {
    /// The stored profile content.
    pub profile: ProfileKey,
    /// The Vault path.
    pub path: String,
    /// The `version` parameter of the read, if any.
    pub version: Option<String>,
    /// Whether the read is a list.
    pub list: bool,
}

/// What an entry weighs beyond its answer and key: the entry, its key and the
/// cache's own bookkeeping, rounded up.
pub const ENTRY_OVERHEAD: usize = 256;

impl EntryKey {
    /// The bytes the key holds.
    fn size(&self) -> usize {
        self.path.len() + self.version.as_ref().map_or(0, String::len)
    }
}

/// One kept answer.
pub struct Entry<T> {
    /// The answer.
    pub value: Arc<T>,
    stored: Instant,
    ttl: Duration,
    weight: u32,
}

struct Expire;

impl<T> moka::Expiry<EntryKey, Arc<Entry<T>>> for Expire {
    fn expire_after_create(&self, _key: &EntryKey, value: &Arc<Entry<T>>, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The cache of answers of type `T` (the read path's successful read).
pub struct SecretCache<T> {
    entries: Cache<EntryKey, Arc<Entry<T>>>,
}

impl<T: Send + Sync + 'static> Default for SecretCache<T> {
    fn default() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|_k, v: &Arc<Entry<T>>| v.weight)
                .expire_after(Expire)
                .build(),
        }
    }
}

impl<T: Send + Sync + 'static> SecretCache<T> {
    /// A kept answer and its age.
    pub fn get(&self, key: &EntryKey) -> Option<(Arc<T>, Duration)> {
        let entry = self.entries.get(key)?;
        let age = entry.stored.elapsed();
        (age < entry.ttl).then(|| (entry.value.clone(), age))
    }

    /// Keep `value` (an answer of `size` bytes) for `ttl`; the entry weighs
    /// the answer, its key and [`ENTRY_OVERHEAD`].
    pub fn put(&self, key: EntryKey, value: Arc<T>, size: usize, ttl: Duration) {
        let weight = u32::try_from(size + key.size() + ENTRY_OVERHEAD).unwrap_or(u32::MAX);
        self.entries.insert(key, Arc::new(Entry { value, stored: Instant::now(), ttl, weight }));
    }

    /// Drop every entry of a profile (its content changed).
    pub fn drop_profile(&self, tenant: &TenantId, name: &ProfileName) {
        // A walk rather than moka's invalidation closures, which can also take
        // entries written just after them. Changes are rare; the walk is bounded by the capacity.
        for (key, _) in self.entries.iter() {
            if key.profile.tenant == *tenant && key.profile.name == *name {
                self.entries.invalidate(key.as_ref());
            }
        }
    }

    /// Drop the entries of a profile whose answer matches (a revoked lease).
    pub fn drop_matching(&self, tenant: &TenantId, name: &ProfileName, matching: impl Fn(&T) -> bool) {
        for (key, entry) in self.entries.iter() {
            if key.profile.tenant == *tenant && key.profile.name == *name && matching(&entry.value) {
                self.entries.invalidate(key.as_ref());
            }
        }
    }

    /// The weight of every entry kept, in bytes.
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// Entries kept, for the metrics.
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// The margin a kept lease leaves before its end: a tenth, at least 10 s.
fn margin(lease: Duration) -> Duration {
    (lease / 10).max(Duration::from_secs(10))
}

/// How long an answer may be kept under `policy`: `lease` is its lease's (honest)
/// duration when it has a lease, `hint` a `lease_duration` without a lease
/// (0: none). None: not kept.
pub fn entry_ttl(policy: &Policy, lease: Option<Duration>, hint: Duration) -> Option<Duration> {
    let bound = match lease {
        Some(_) if !policy.leased => return None,
        Some(d) => Some(d),
        None if hint.is_zero() => None,
        None => Some(hint),
    };
    let ttl = match bound {
        None => policy.ttl,
        Some(d) => policy.ttl.min(d.checked_sub(margin(d))?),
    };
    (!ttl.is_zero()).then_some(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn leased_answers_are_kept_only_when_the_profile_shares_them_and_never_past_the_margin() {
        let private = Policy { ttl: S(30), leased: false };
        let shared = Policy { ttl: S(30), leased: true };
        assert_eq!(entry_ttl(&private, None, S(0)), Some(S(30)), "a static secret: the profile's ttl");
        assert_eq!(entry_ttl(&private, Some(S(3600)), S(3600)), None, "dynamic credentials are not shared");
        assert_eq!(entry_ttl(&shared, Some(S(3600)), S(3600)), Some(S(30)));
        assert_eq!(entry_ttl(&shared, Some(S(25)), S(25)), Some(S(15)), "25 s lease minus 10 s");
        assert_eq!(entry_ttl(&shared, Some(S(8)), S(8)), None, "a lease shorter than its margin is not kept");
        assert_eq!(entry_ttl(&private, None, S(20)), Some(S(10)), "KV v1's hint bounds the entry too");
        assert_eq!(entry_ttl(&Policy { ttl: S(600), leased: true }, Some(S(1000)), S(1000)), Some(S(600)));
        assert_eq!(entry_ttl(&Policy { ttl: S(1000), leased: true }, Some(S(1000)), S(1000)), Some(S(900)));
    }

    fn key(revision: i64, path: &str) -> EntryKey {
        EntryKey {
            profile: ProfileKey {
                tenant: TenantId::parse("t").expect("tenant"),
                name: ProfileName::parse("p").expect("name"),
                revision,
                fingerprint: [0; 16],
            },
            path: path.into(),
            version: None,
            list: false,
        }
    }

    #[test]
    fn entries_answer_until_their_ttl_and_a_profile_change_drops_them() {
        let cache: SecretCache<String> = SecretCache::default();
        cache.put(key(1, "a"), Arc::new("v".into()), 10, S(60));
        cache.put(key(1, "b"), Arc::new("w".into()), 10, Duration::from_millis(30));
        let (v, age) = cache.get(&key(1, "a")).expect("hit");
        assert_eq!((v.as_str(), age < S(1)), ("v", true));
        assert!(cache.get(&key(2, "a")).is_none(), "another revision never answers from this one");
        std::thread::sleep(Duration::from_millis(50));
        assert!(cache.get(&key(1, "b")).is_none(), "expired");
        cache.drop_profile(&TenantId::parse("t").expect("tenant"), &ProfileName::parse("p").expect("name"));
        assert!(cache.get(&key(1, "a")).is_none(), "dropped with its profile");
    }

    #[test]
    fn an_entry_weighs_its_key_and_overhead_and_a_revoked_lease_leaves() {
        let cache: SecretCache<String> = SecretCache::default();
        cache.put(key(1, "a/b"), Arc::new("lease-1".into()), 10, S(60));
        cache.put(key(1, "c"), Arc::new("lease-2".into()), 10, S(60));
        assert_eq!(cache.weighted_size(), (10 + 3 + ENTRY_OVERHEAD + 10 + 1 + ENTRY_OVERHEAD) as u64);
        let (t, p) = (TenantId::parse("t").expect("tenant"), ProfileName::parse("p").expect("name"));
        cache.drop_matching(&t, &p, |v| v == "lease-1");
        assert!(cache.get(&key(1, "a/b")).is_none(), "the entry carrying the revoked lease is gone");
        assert!(cache.get(&key(1, "c")).is_some(), "others stay");
    }
}
