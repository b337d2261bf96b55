//! Per-key request rates (`governor`): every authenticated `/v1` call and every
//! call to the Vault-compatible endpoint counts against its key's limit; over
//! it, 429 with `Retry-After`. Read keys and admin (or operator) keys have
//! separate limits (`AUTH_SERVICE_RATE_LIMIT_READ`, `AUTH_SERVICE_RATE_LIMIT_ADMIN`;
//! requests per second, burst the same, 0 = none). One key's bursts never slow another.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::{Caller, Scope};
use crate::error::ApiError;

/// The limiters of one service.
pub struct RateLimits {
    read: Option<DefaultKeyedRateLimiter<String>>,
    admin: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_second).map(|n| RateLimiter::keyed(Quota::per_second(n).allow_burst(n)))
}

impl RateLimits {
    /// Limits of `read` and `admin` requests per second per key (0 = none).
    pub fn new(read: u32, admin: u32) -> Self {
        Self { read: limiter(read), admin: limiter(admin) }
    }

    /// Count one request of `caller`; 429 with the wait when it is over its rate.
    pub fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        let (limiter, key, kind) = match caller {
            Caller::Operator => (&self.admin, "operator".to_string(), "admin"),
            Caller::Tenant { key_id, scopes, .. } if scopes.contains(&Scope::Admin) => {
                (&self.admin, key_id.clone(), "admin")
            }
            Caller::Tenant { key_id, .. } => (&self.read, key_id.clone(), "read"),
        };
        let Some(limiter) = limiter else { return Ok(()) };
        match limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let retry_after = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .max(Duration::from_secs(1));
                Err(ApiError::TooManyRequests {
                    detail: format!(
                        "this {kind} key is over its request rate; retry after {} s (the operator sets AUTH_SERVICE_RATE_LIMIT_{})",
                        retry_after.as_secs(),
                        kind.to_ascii_uppercase()
                    ),
                    retry_after,
                })
            }
        }
    }

    /// Forget keys that have been idle long enough to be back at a full burst.
    pub fn shrink(&self) {
        for limiter in [&self.read, &self.admin].into_iter().flatten() {
            limiter.retain_recent();
        }
    }
}
