//! Logins and the token cache.
//!
//! How it works: [`Tokens::login`] runs one agent for a profile (rendering the
//! config into the runner's private directory, with the persisted nonce for
//! ec2), then verifies the token with `lookup-self`. [`Tokens::get`] serves
//! reads: a cached token if there is one; otherwise exactly one login per
//! (tenant, profile, revision, content fingerprint) however many requests wait for it (moka's
//! `try_get_with` is the single flight). A token lives in the cache for its TTL
//! minus 120 s. A failed login starts a back-off for that profile (doubling up
//! to a maximum) during which reads get 503 instead of spawning agents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_runner::verify::{self, TokenInfo};
use agent_runner::{KnownCause, RunSpec, Runner, RunnerError};
use moka::Expiry;
use moka::future::Cache;
use secrecy::SecretString;

use crate::agent_config::{self, AgentConfigInput};
use crate::config::Settings;
use crate::domain::{MethodBlock, ValidationPolicy, VaultAddress, method_block};
use crate::ec2::{self, InstanceIdentity};
use crate::metrics::Metrics;
use crate::store::{ProfileRow, Store};

/// Tokens whose TTL is at or under this are not cached.
pub const CACHE_MARGIN: Duration = Duration::from_secs(120);

/// Everything a login needs from a stored profile.
#[derive(Debug, Clone)]
pub struct ProfileLogin {
    /// Tenant id.
    pub tenant: String,
    /// Profile name.
    pub name: String,
    /// Profile revision (part of the cache key: a replaced profile logs in again).
    pub revision: i64,
    /// Digest of the stored row's content and creation time, also in the cache key:
    /// a profile deleted and created again (revision 1 again), possibly through
    /// another replica, never reuses the old profile's token.
    pub fingerprint: [u8; 16],
    /// Vault address.
    pub address: VaultAddress,
    /// The namespace of the login and of every read.
    pub namespace: Option<String>,
    /// The validated method block.
    pub block: MethodBlock,
    /// Optional secret read by test connection.
    pub test_secret_path: Option<String>,
}

impl ProfileLogin {
    /// Re-parse a stored profile (stored profiles were validated on write; a
    /// policy change since then, like a disabled method type, shows here).
    pub fn from_row(row: &ProfileRow, policy: &ValidationPolicy) -> Result<Self, String> {
        let block = method_block::validate_value(&row.method, policy).map_err(|errors| {
            let first = errors.first().map(|e| format!("{}: {}", e.pointer, e.message)).unwrap_or_default();
            format!("the stored method block is no longer accepted by this service ({first}); replace the profile")
        })?;
        let address = VaultAddress::parse(&row.vault_address).map_err(|e| format!("vault_address: {e}"))?;
        let namespace = agent_config::effective_namespace(&block, row.namespace.as_deref())
            .map_err(|e| e.to_string())?
            .map(str::to_string);
        Ok(Self {
            tenant: row.tenant_id.clone(),
            name: row.name.clone(),
            revision: row.revision,
            fingerprint: row_fingerprint(row),
            address,
            namespace,
            block,
            test_secret_path: row.test_secret_path.clone(),
        })
    }

    fn key(&self) -> CacheKey {
        (self.tenant.clone(), self.name.clone(), self.revision, self.fingerprint)
    }
}

/// A verified token.
pub struct FreshToken {
    /// The token.
    pub token: SecretString,
    /// What `lookup-self` said.
    pub info: TokenInfo,
    /// Agent run time.
    pub login_elapsed: Duration,
    /// `lookup-self` time.
    pub verify_elapsed: Duration,
}

/// Which step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Running the agent.
    AgentLogin,
    /// `lookup-self`.
    VerifyToken,
}

/// A failed login, in words for an admin.
#[derive(Debug, Clone)]
pub struct LoginFailure {
    /// The failing step.
    pub step: Step,
    /// What happened (agent output scrubbed of anything token-like).
    pub detail: String,
    /// What to do.
    pub hint: Option<String>,
    /// Time spent in the failing step.
    pub elapsed: Duration,
    /// Time the agent took, when the failing step came after it.
    pub login_elapsed: Option<Duration>,
}

/// A cached token.
pub struct CachedToken {
    /// The token.
    pub token: SecretString,
    /// How long the cache keeps it.
    pub cache_for: Duration,
    /// Its Vault accessor (not a secret; used for revocation checks in logs).
    pub accessor: String,
}

type CacheKey = (String, String, i64, [u8; 16]);

/// Digest of what a login depends on in a stored profile.
fn row_fingerprint(row: &ProfileRow) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        row.vault_address.as_str(),
        row.namespace.as_deref().unwrap_or(""),
        &row.method.to_string(),
        row.test_secret_path.as_deref().unwrap_or(""),
        &row.created_at,
        &row.revision.to_string(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

struct TtlExpiry;

impl Expiry<CacheKey, Arc<CachedToken>> for TtlExpiry {
    fn expire_after_create(&self, _k: &CacheKey, v: &Arc<CachedToken>, _now: std::time::Instant) -> Option<Duration> {
        Some(v.cache_for)
    }
}

struct Backoff {
    failures: u32,
    until: Instant,
    last: LoginFailure,
}

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
    runner: Runner,
    spec: RunSpec,
    http: reqwest::Client,
    vault_timeout: Duration,
    max_cache_ttl: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    cache: Cache<CacheKey, Arc<CachedToken>>,
    parsed: Cache<CacheKey, Arc<ProfileLogin>>,
    backoff: Mutex<HashMap<(String, String), Backoff>>,
    store: Store,
    ca_cert: Option<std::path::PathBuf>,
    identity: InstanceIdentity,
    metrics: Arc<Metrics>,
}

impl Tokens {
    /// Build from the settings.
    pub fn new(settings: &Settings, store: Store, http: reqwest::Client, metrics: Arc<Metrics>) -> Self {
        let mut spec =
            RunSpec { binary: settings.agent_bin.clone(), timeout: settings.agent_timeout, ..RunSpec::default() };
        spec.temp_root = settings.agent_temp_dir.clone();
        Self {
            runner: Runner::new(settings.max_concurrent_agents),
            spec,
            http,
            vault_timeout: settings.vault_timeout,
            max_cache_ttl: settings.token_max_cache_ttl,
            backoff_initial: settings.login_backoff_initial,
            backoff_max: settings.login_backoff_max,
            cache: Cache::builder().max_capacity(100_000).expire_after(TtlExpiry).build(),
            parsed: Cache::builder().max_capacity(10_000).time_to_idle(Duration::from_secs(3600)).build(),
            backoff: Mutex::new(HashMap::new()),
            store,
            ca_cert: settings.vault_ca_cert.clone(),
            identity: InstanceIdentity::new(settings.ec2_metadata_endpoint.clone()),
            metrics,
        }
    }

    /// A stored profile parsed for login; the JSON-schema validation runs once per
    /// profile content, not on every read.
    pub async fn parse(&self, row: &ProfileRow, policy: &ValidationPolicy) -> Result<Arc<ProfileLogin>, String> {
        let key = (row.tenant_id.clone(), row.name.clone(), row.revision, row_fingerprint(row));
        if let Some(hit) = self.parsed.get(&key).await {
            return Ok(hit);
        }
        let login = Arc::new(ProfileLogin::from_row(row, policy)?);
        self.parsed.insert(key, login.clone()).await;
        Ok(login)
    }

    /// The HTTP client for Vault calls.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Timeout of each Vault call.
    pub fn vault_timeout(&self) -> Duration {
        self.vault_timeout
    }

    /// The host's EC2 identity reader.
    pub fn identity(&self) -> &InstanceIdentity {
        &self.identity
    }

    /// Run one agent for `p` and verify its token. Ignores cache and back-off.
    #[tracing::instrument(skip_all, fields(tenant = %p.tenant, profile = %p.name))]
    pub async fn login(&self, p: &ProfileLogin) -> Result<FreshToken, LoginFailure> {
        let started = Instant::now();
        let fail_login = |detail: String, hint: Option<String>| LoginFailure {
            step: Step::AgentLogin,
            detail,
            hint,
            elapsed: started.elapsed(),
            login_elapsed: None,
        };
        let (nonce, instance) = if p.block.is_ec2() {
            let instance = self.identity.instance_id().await.map_err(|e| {
                fail_login(
                    e,
                    Some("ec2 logins only work on an EC2 instance; on other hosts use config.type \"iam\"".into()),
                )
            })?;
            let key = ec2::nonce_key(&p.address, p.namespace.as_deref(), &p.block.mount_path, &instance);
            let row = ec2::nonce_for(&self.store, &key).await.map_err(|e| {
                tracing::error!(error = %e, "could not read or create the ec2 nonce");
                fail_login("the service could not load its ec2 nonce from the database".into(), None)
            })?;
            (Some(row.value), Some(instance))
        } else {
            (None, None)
        };
        // Render once up front so a config problem is reported as such, not as an agent failure.
        let probe = AgentConfigInput {
            vault_address: &p.address,
            namespace: p.namespace.as_deref(),
            sink_path: std::path::Path::new("/probe/token"),
            nonce: nonce.as_ref(),
            ca_cert: self.ca_cert.as_deref(),
        };
        agent_config::render(&p.block, &probe).map_err(|e| fail_login(e.to_string(), None))?;

        let render = |sink: &std::path::Path| {
            let input = AgentConfigInput {
                vault_address: &p.address,
                namespace: p.namespace.as_deref(),
                sink_path: sink,
                nonce: nonce.as_ref(),
                ca_cert: self.ca_cert.as_deref(),
            };
            agent_config::render(&p.block, &input).unwrap_or_default()
        };
        let run = self.runner.run(&self.spec, render).await;
        let login_elapsed = started.elapsed();
        let run = match run {
            Ok(run) => {
                self.metrics.agent_spawn("success", login_elapsed);
                run
            }
            Err(e) => {
                self.metrics.agent_spawn(e.kind(), login_elapsed);
                tracing::warn!(outcome = e.kind(), error = %e, "agent login failed");
                return Err(fail_login(e.to_string(), runner_hint(&e, &p.block, instance.as_deref())));
            }
        };
        let verify_started = Instant::now();
        match verify::lookup_self(&self.http, p.address.as_str(), p.namespace.as_deref(), &run.token).await {
            Ok(info) => {
                Ok(FreshToken { token: run.token, info, login_elapsed, verify_elapsed: verify_started.elapsed() })
            }
            Err(e) => {
                tracing::warn!(error = %e, "token verification failed");
                Err(LoginFailure {
                    step: Step::VerifyToken,
                    detail: e.to_string(),
                    hint: Some("the agent got a token that Vault does not accept for lookup-self; check the namespace and that the role issues normal (not use-limited) tokens".into()),
                    elapsed: verify_started.elapsed(),
                    login_elapsed: Some(login_elapsed),
                })
            }
        }
    }

    /// The cache entry for a fresh token.
    fn cached(&self, fresh: &FreshToken) -> Arc<CachedToken> {
        Arc::new(CachedToken {
            token: fresh.token.clone(),
            cache_for: cache_lifetime(fresh.info.ttl, self.max_cache_ttl),
            accessor: fresh.info.accessor.clone(),
        })
    }

    fn backoff_state(&self, p: &ProfileLogin) -> Option<(LoginFailure, Duration)> {
        let map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let b = map.get(&(p.tenant.clone(), p.name.clone()))?;
        let now = Instant::now();
        (b.until > now).then(|| (b.last.clone(), b.until - now))
    }

    fn record_failure(&self, p: &ProfileLogin, failure: &LoginFailure) -> Duration {
        let mut map = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry((p.tenant.clone(), p.name.clone())).or_insert(Backoff {
            failures: 0,
            until: Instant::now(),
            last: failure.clone(),
        });
        entry.failures = entry.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(entry.failures.saturating_sub(1).min(20));
        let delay = self.backoff_initial.saturating_mul(factor).min(self.backoff_max);
        entry.until = Instant::now() + delay;
        entry.last = failure.clone();
        delay
    }

    fn clear_backoff(&self, p: &ProfileLogin) {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(&(p.tenant.clone(), p.name.clone()));
    }

    /// A token for reads: cached, or from exactly one login for all concurrent callers.
    pub async fn get(&self, p: &ProfileLogin) -> Result<(Arc<CachedToken>, bool), TokenError> {
        let key = p.key();
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.cache_hit();
            return Ok((hit, true));
        }
        self.metrics.cache_miss();
        if let Some((last, retry_after)) = self.backoff_state(p) {
            return Err(TokenError::BackingOff { last, retry_after });
        }
        let result = self
            .cache
            .try_get_with(key, async {
                match self.login(p).await {
                    Ok(fresh) => {
                        self.clear_backoff(p);
                        Ok(self.cached(&fresh))
                    }
                    Err(failure) => {
                        let retry_after = self.record_failure(p, &failure);
                        Err((failure, retry_after))
                    }
                }
            })
            .await;
        match result {
            Ok(token) => Ok((token, false)),
            Err(e) => {
                let (failure, retry_after) = (*e).clone();
                Err(TokenError::LoginFailed { failure, retry_after })
            }
        }
    }

    /// Put a token from test connection in the cache, revoking the one it replaces.
    pub async fn store_fresh(&self, p: &ProfileLogin, fresh: &FreshToken) {
        self.clear_backoff(p);
        let key = p.key();
        let old = self.cache.remove(&key).await;
        self.cache.insert(key, self.cached(fresh)).await;
        if let Some(old) = old {
            self.revoke(p, old);
        }
    }

    /// Drop the cached token of this profile revision if it is still `used`
    /// (after Vault refused it), revoking it.
    pub async fn invalidate_if_same(&self, p: &ProfileLogin, used: &Arc<CachedToken>) {
        let key = p.key();
        let same = self.cache.get(&key).await.is_some_and(|cur| Arc::ptr_eq(&cur, used));
        if same {
            self.cache.invalidate(&key).await;
            self.revoke(p, used.clone());
        }
    }

    /// Forget everything about a profile revision (replace / delete): drop and revoke its token, clear back-off.
    pub async fn forget(&self, p: &ProfileLogin) {
        self.clear_backoff(p);
        if let Some(old) = self.cache.remove(&p.key()).await {
            self.revoke(p, old);
        }
    }

    /// Best-effort `revoke-self` in the background.
    fn revoke(&self, p: &ProfileLogin, token: Arc<CachedToken>) {
        let http = self.http.clone();
        let address = p.address.clone();
        let namespace = p.namespace.clone();
        let (tenant, name) = (p.tenant.clone(), p.name.clone());
        tokio::spawn(async move {
            match verify::revoke_self(&http, address.as_str(), namespace.as_deref(), &token.token).await {
                Ok(()) => {
                    tracing::info!(%tenant, profile = %name, accessor = %token.accessor, "revoked superseded token")
                }
                Err(e) => tracing::warn!(%tenant, profile = %name, error = %e, "could not revoke superseded token"),
            }
        });
    }
}

/// How long a token with `ttl` stays cached: TTL minus 120 s (nothing at or
/// under 120 s), a non-expiring token (TTL 0) for `max`, never longer than `max`.
pub fn cache_lifetime(ttl: Duration, max: Duration) -> Duration {
    if ttl.is_zero() { max } else { ttl.saturating_sub(CACHE_MARGIN).min(max) }
}

/// The admin-facing hint for an agent failure, made concrete with the
/// profile's mount, role and (for ec2) this host's instance id.
pub fn runner_hint(e: &RunnerError, block: &MethodBlock, instance_id: Option<&str>) -> Option<String> {
    let mount = &block.mount_path;
    match e {
        RunnerError::LoginRejected { cause: Some(KnownCause::RoleNotFound), .. } => Some(format!(
            "The role \"{}\" does not exist on {mount}. Create it, or fix config.role / mount_path.",
            block.role()
        )),
        RunnerError::LoginRejected { cause: Some(KnownCause::NonceMismatch), .. } => Some(format!(
            "Vault remembers another nonce for this instance on {mount}. Ask the Vault admin to run: vault delete {mount}/identity-accesslist/{}; then POST .../ec2-nonce/reset on this profile.",
            instance_id.unwrap_or("<instance_id>")
        )),
        other => other.hint().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::method_block::validate_value;

    fn block(v: serde_json::Value) -> MethodBlock {
        validate_value(&v, &ValidationPolicy::default()).expect("valid")
    }

    #[test]
    fn hints_name_the_mount_the_role_and_the_instance() {
        let ec2 = block(
            serde_json::json!({"type": "aws", "mount_path": "auth/aws-prod", "config": {"type": "ec2", "role": "dev"}}),
        );
        let mismatch = RunnerError::LoginRejected {
            reason: "client nonce mismatch".into(),
            cause: Some(KnownCause::NonceMismatch),
        };
        let hint = runner_hint(&mismatch, &ec2, Some("i-0abc")).expect("hint");
        assert!(hint.contains("vault delete auth/aws-prod/identity-accesslist/i-0abc"), "{hint}");
        let missing = RunnerError::LoginRejected { reason: "x".into(), cause: Some(KnownCause::RoleNotFound) };
        let hint = runner_hint(&missing, &ec2, None).expect("hint");
        assert!(hint.contains("\"dev\" does not exist on auth/aws-prod"), "{hint}");
        let timeout = RunnerError::TimedOut { after: Duration::from_secs(30), detail: String::new() };
        assert!(runner_hint(&timeout, &ec2, None).is_some_and(|h| h.contains("reachable")));
    }

    #[test]
    fn tokens_are_cached_for_their_ttl_minus_two_minutes_capped_by_the_maximum() {
        let cap = Duration::from_secs(3600);
        let cache_for = |ttl: u64| cache_lifetime(Duration::from_secs(ttl), cap);
        assert_eq!(cache_for(600), Duration::from_secs(480));
        assert_eq!(cache_for(120), Duration::ZERO);
        assert_eq!(cache_for(60), Duration::ZERO);
        assert_eq!(cache_for(0), cap);
        assert_eq!(cache_for(86_400), cap);
    }
}
