//! Login back-off: doubling pauses per profile revision after a failed login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::login::{LoginFailure, ProfileKey};

struct Backoff {
    failures: u32,
    until: Instant,
    last: LoginFailure,
}

/// Login back-off per profile revision: doubling pauses from `initial` up to `max`.
/// Keyed by the profile's content: a changed profile starts clean (on every replica),
/// and a login of old content cannot put the new revision into back-off.
pub(super) struct Pauses {
    initial: Duration,
    max: Duration,
    map: Mutex<HashMap<ProfileKey, Backoff>>,
}

impl Pauses {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Pauses { initial, max, map: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProfileKey, Backoff>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last failure and the time left, while a pause lasts.
    pub(super) fn state(&self, key: &ProfileKey) -> Option<(LoginFailure, Duration)> {
        let map = self.lock();
        let b = map.get(key)?;
        let now = Instant::now();
        (b.until > now).then(|| (b.last.clone(), b.until - now))
    }

    /// Count one more failure and return the pause that now applies.
    pub(super) fn record(&self, key: &ProfileKey, failure: &LoginFailure) -> Duration {
        let mut map = self.lock();
        if map.len() > 10_000 {
            // Entries of replaced or deleted profiles whose pause ended are of no more use.
            let now = Instant::now();
            map.retain(|_, b| b.until > now);
        }
        let entry =
            map.entry(key.clone()).or_insert(Backoff { failures: 0, until: Instant::now(), last: failure.clone() });
        entry.failures = entry.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(entry.failures.saturating_sub(1).min(20));
        let delay = self.initial.saturating_mul(factor).min(self.max);
        entry.until = Instant::now() + delay;
        entry.last = failure.clone();
        delay
    }

    pub(super) fn clear(&self, key: &ProfileKey) {
        self.lock().remove(key);
    }
}
