//! What names one stored profile content, and a profile's secret-cache settings:
//! values the caches, the store and the logins all use, so they live at the bottom.

use std::time::Duration;

use super::{ProfileName, TenantId};

/// Names one stored profile content: tenant, name, revision, and a digest of
/// the row's content and creation time. It keys the token and parsed-profile
/// caches: a replaced profile logs in again, and a profile deleted and created
/// again (revision 1 again), possibly through another replica, never reuses the
/// old profile's token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileKey {
    /// Tenant.
    pub tenant: TenantId,
    /// Profile name.
    pub name: ProfileName,
    /// Revision.
    pub revision: i64,
    /// Content digest.
    pub fingerprint: [u8; 16],
}

/// A profile's secret-cache settings (present only when the cache is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretCachePolicy {
    /// How long an answer is kept.
    pub ttl: Duration,
    /// Whether answers with a lease are shared between callers.
    pub leased: bool,
}
