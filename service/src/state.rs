//! Application state shared by every handler.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::ValidationPolicy;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::tokens::Tokens;

/// Shared state.
pub struct AppState {
    /// Settings.
    pub settings: Settings,
    /// Validation rules from the settings.
    pub policy: ValidationPolicy,
    /// Database.
    pub store: Store,
    /// Profiles parsed and checked against their tenant's grants, for reads.
    pub resolutions: crate::reads::resolution::Resolutions,
    /// The audit trail's writer.
    pub audit: crate::audit::AuditLog,
    /// The opt-in secret cache.
    pub(crate) secrets: crate::secret_cache::SecretCache<crate::reads::answer::Read>,
    /// Logins, token cache, back-off.
    pub tokens: Tokens,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Per-key request rates.
    pub limits: crate::limits::RateLimits,
    /// When each profile content was last tested (the test-connection cooldown).
    pub last_tests: std::sync::Mutex<std::collections::HashMap<crate::tokens::ProfileKey, std::time::Instant>>,
    /// Agent binary check for readiness: (checked at, ok, detail).
    pub agent_check: tokio::sync::Mutex<Option<(std::time::Instant, bool, String)>>,
}

impl AppState {
    /// The parts the read path uses.
    pub fn reads(&self) -> crate::reads::Reads<'_> {
        crate::reads::Reads {
            store: &self.store,
            tokens: &self.tokens,
            secrets: &self.secrets,
            resolutions: &self.resolutions,
            policy: &self.policy,
            settings: &self.settings,
        }
    }
}
