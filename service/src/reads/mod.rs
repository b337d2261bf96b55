//! Secret reads: the one read the REST API and the Vault-compatible endpoint
//! share. From a profile's name ([`resolve`]) to its cached token (one fresh
//! login after a 403, a reload when a change retired the token under the read),
//! the secret cache, Vault's answer ([`answer`]) and the lease bookkeeping
//! ([`leases`]). Handlers in `routes/` only extract, call and map.

pub mod answer;
pub mod leases;
pub mod resolution;
pub mod resolve;

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpResponse;

pub use answer::{HonestLease, Read};
pub use resolve::load_login;

/// What the read path uses of the service's parts. The state hands it out
/// (`AppState::reads`); the read path never names the state itself.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    /// The database (its in-memory copies serve warm reads).
    pub store: &'a crate::store::Store,
    /// Logins, the token cache and the lease book.
    pub tokens: &'a crate::tokens::Tokens,
    /// The opt-in secret cache.
    pub secrets: &'a crate::secret_cache::SecretCache<Read>,
    /// Profiles parsed and checked against their tenant's grants.
    pub resolutions: &'a resolution::Resolutions,
    /// Validation rules from the settings.
    pub policy: &'a crate::domain::ValidationPolicy,
    /// The settings.
    pub settings: &'a crate::config::Settings,
}

use crate::domain::secret_path::{LeaseId, ReadQuery};
use crate::domain::{ProfileName, SecretPath, TenantId};
use crate::error::ApiError;
use crate::leases::rfc3339;
use crate::secret_cache::EntryKey;
use crate::store::LeaseRow;
use crate::tokens::{CachedToken, ProfileLogin};
use crate::tokens::{Step, TokenError};
use crate::vault::{Op, ReadOutcome};

/// A failed login, as a read answers it: 503 with the step, the detail and a hint.
pub fn token_error(e: TokenError) -> ApiError {
    let (failure, retry_after, prefix) = match e {
        TokenError::BackingOff { last, retry_after } => {
            (last, retry_after, "logins for this profile are paused after a failure")
        }
        TokenError::LoginFailed { failure, retry_after } => (failure, retry_after, "the login for this profile failed"),
    };
    let step = match failure.step {
        Step::AssumeRole => "assuming the tenant's AWS role",
        Step::AgentLogin => "agent login",
        Step::VerifyToken => "token verification",
    };
    ApiError::Unavailable {
        detail: format!("{prefix} ({step}: {})", failure.detail),
        hint: Some(
            failure.hint.unwrap_or_else(|| "run POST .../test on this profile for a step-by-step report".to_string()),
        ),
        retry_after: Some(retry_after),
    }
}

/// A read's answer, and what the secret cache did for it.
pub struct Served {
    /// The answer.
    pub read: Arc<Read>,
    /// What the secret cache did.
    pub cache: Cached,
}

/// What the secret cache did for a read.
#[derive(Clone, Copy)]
pub enum Cached {
    /// The profile does not cache.
    Off,
    /// Vault was read (and the answer kept when it may be).
    Miss,
    /// A kept answer, this old.
    Hit(Duration),
}

impl Served {
    /// A 200 with `Cache-Control: no-store`, and `X-Cache` and `Age` when the profile caches.
    pub fn response(&self) -> actix_web::HttpResponseBuilder {
        let mut out = HttpResponse::Ok();
        out.insert_header(("Cache-Control", "no-store"));
        match self.cache {
            Cached::Off => {}
            Cached::Miss => {
                out.insert_header(("X-Cache", "MISS"));
            }
            Cached::Hit(age) => {
                out.insert_header(("X-Cache", "HIT")).insert_header(("Age", age.as_secs().to_string()));
            }
        }
        out
    }

    /// The lease's remaining seconds (a cached answer's lease has aged).
    pub fn lease_secs_left(&self, lease: &HonestLease) -> u64 {
        let age = if let Cached::Hit(age) = self.cache { age.as_secs() } else { 0 };
        lease.duration_secs.saturating_sub(age)
    }
}

/// The `outcome` label of a read.
pub fn read_outcome<T>(result: &Result<T, ApiError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ApiError::NotFound(_)) => "not_found",
        Err(ApiError::Upstream { status, .. }) if status.as_u16() == 403 => "forbidden",
        Err(ApiError::Unavailable { .. }) => "login_failed",
        Err(ApiError::Validation { .. } | ApiError::BadRequest(_)) => "invalid",
        Err(_) => "vault_error",
    }
}

/// A read's path and query string as a client sent them (decoded by the
/// router), parsed: what is refused never reaches Vault.
pub fn parse_read(raw_path: &str, raw_query: &str) -> Result<(SecretPath, ReadQuery), ApiError> {
    let path = SecretPath::parse(raw_path).map_err(|e| ApiError::field("/path", e))?;
    let query = ReadQuery::parse(raw_query).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((path, query))
}

/// The read both the REST API and the Vault-compatible endpoint use: the
/// profile's cached token (one fresh login after a 403), the secret cache, lease tracking.
pub async fn read(
    state: &Reads<'_>,
    tenant: &TenantId,
    name: &ProfileName,
    secret_path: &SecretPath,
    query: &ReadQuery,
) -> Result<Served, ApiError> {
    let login = load_login(state, tenant, name).await?;
    read_with(state, &login, secret_path, query).await
}

/// [`read`] for a profile already loaded (and checked against the tenant's grants).
pub async fn read_with(
    state: &Reads<'_>,
    login: &ProfileLogin,
    secret_path: &SecretPath,
    query: &ReadQuery,
) -> Result<Served, ApiError> {
    let cacheable = login.secret_cache.zip(query.cache_key());
    let Some((policy, (version, list))) = cacheable else {
        let cache = if login.secret_cache.is_some() { Cached::Miss } else { Cached::Off };
        return Ok(Served { read: Arc::new(read_vault(state, login, secret_path, query).await?), cache });
    };
    let key = EntryKey {
        profile: login.key.clone(),
        path: secret_path.as_str().to_string(),
        version: version.map(str::to_string),
        list,
    };
    if let Some((read, age)) = state.secrets.get(&key) {
        return Ok(Served { read, cache: Cached::Hit(age) });
    }
    let read = Arc::new(read_vault(state, login, secret_path, query).await?);
    let hint = Duration::from_secs(read.found.lease_duration);
    let lease = read.lease.as_ref().map(|l| Duration::from_secs(l.duration_secs));
    if let Some(ttl) = crate::secret_cache::entry_ttl(&policy, lease, hint) {
        let size = read.found.raw.len();
        state.secrets.put(key, read.clone(), size, ttl);
    }
    Ok(Served { read, cache: Cached::Miss })
}

/// The read itself: the profile's cached token (one fresh login after a 403), lease tracking.
async fn read_vault(
    state: &Reads<'_>,
    login: &ProfileLogin,
    secret_path: &SecretPath,
    query: &ReadQuery,
) -> Result<Read, ApiError> {
    let (tenant, name) = (login.tenant(), login.name());
    // The profile as this read sees it: reloaded when a change retired the token under it.
    let mut current: Option<Arc<ProfileLogin>> = None;
    let mut fresh_login_done = false;
    let mut superseded_retries = 0;
    loop {
        let login: &ProfileLogin = current.as_deref().unwrap_or(login);
        let (token, hit) = state.tokens.get(login).await.map_err(token_error)?;
        fresh_login_done |= !hit;
        let outcome = state.tokens.vault(login).read(&token.token, Op::Read(secret_path, query)).await?;
        match outcome {
            ReadOutcome::Found(found) => {
                let lease = match found.lease_id.as_str() {
                    "" => None,
                    lease_id => {
                        let lease_id = LeaseId::parse(lease_id).map_err(|e| {
                            ApiError::BadGateway(format!("Vault sent a lease id the service cannot track ({e})"))
                        })?;
                        Some(Box::pin(honest_lease(state, login, &token, &lease_id, found.lease_duration)).await?)
                    }
                };
                return Ok(Read { found, lease });
            }
            ReadOutcome::NotFound => return Err(ApiError::NotFound(format!("Vault has nothing at {secret_path}"))),
            ReadOutcome::Forbidden(e)
                if (!fresh_login_done || (superseded_retries < 2 && state.tokens.superseded(login, &token).await))
                    && Box::pin(token_is_dead(state, login, &token)).await? =>
            {
                // Vault answers 403 both for a dead token and for a policy denial; only a
                // dead token (lookup-self refused) is retried.
                if superseded_retries < 2 && state.tokens.superseded(login, &token).await {
                    // A change retired the token under this read (a replace, a test
                    // connection, a delete): read again with the profile as it is now;
                    // a deleted profile is a 404 here.
                    superseded_retries += 1;
                    tracing::info!(tenant = %tenant, profile = %name, "the token was retired during the read; reading again with the profile as it is now");
                    state.tokens.invalidate_if_same(login, &token).await;
                    current = Some(load_login(state, tenant, name).await?);
                    continue;
                }
                if !fresh_login_done {
                    tracing::info!(tenant = %tenant, profile = %name, "vault refused the cached token; logging in again");
                    state.tokens.invalidate_if_same(login, &token).await;
                    fresh_login_done = true;
                    continue;
                }
                return Err(forbidden(secret_path, &e));
            }
            ReadOutcome::Forbidden(e) => return Err(forbidden(secret_path, &e)),
            ReadOutcome::Other(status, e) => {
                let status = match status {
                    400 => actix_web::http::StatusCode::BAD_REQUEST,
                    _ => actix_web::http::StatusCode::BAD_GATEWAY,
                };
                return Err(ApiError::Upstream { status, detail: format!("Vault answered: {e}"), hint: None });
            }
        }
    }
}

/// Vault's refusal of a read, with the policy that would allow it.
fn forbidden(secret_path: &SecretPath, e: &str) -> ApiError {
    ApiError::Upstream {
        status: actix_web::http::StatusCode::FORBIDDEN,
        detail: format!("Vault refused the read of {secret_path}: {e}"),
        hint: Some(format!(
            "grant read on this path to the role's policies, e.g. path \"{secret_path}\" {{ capabilities = [\"read\"] }}"
        )),
    }
}

/// Whether Vault refuses the token itself (`lookup-self` 403), as opposed to a
/// policy denial of one path: a connector polling a path it may not read must
/// not make the service revoke the shared token or run agents.
async fn token_is_dead(state: &Reads<'_>, login: &ProfileLogin, token: &CachedToken) -> Result<bool, ApiError> {
    match agent_runner::verify::lookup_self(
        state.tokens.http(),
        login.address.base(),
        login.namespace.as_deref(),
        &token.token,
    )
    .await
    {
        Ok(_) => Ok(false),
        Err(agent_runner::verify::VerifyError::Rejected { .. }) => Ok(true),
        Err(agent_runner::verify::VerifyError::UseLimited(_)) => Ok(true),
        Err(e) => Err(ApiError::BadGateway(format!("Vault could not say whether the token is still valid: {e}"))),
    }
}

/// Record a lease the read returned (so renew and revoke calls can be checked,
/// and its token outlives it), and make it honest: `expires_at` is the earlier
/// of the lease's end and its token's latest possible end, and `lease_duration`
/// is clamped to it.
async fn honest_lease(
    state: &Reads<'_>,
    login: &ProfileLogin,
    token: &CachedToken,
    lease_id: &LeaseId,
    lease_duration: u64,
) -> Result<HonestLease, ApiError> {
    let duration = std::time::Duration::from_secs(lease_duration);
    let expires = state.tokens.leases().record(&token.lease_ref, lease_id, duration).await;
    let expires_at = rfc3339(expires);
    let row = LeaseRow {
        lease_id: lease_id.as_str().to_string(),
        token_accessor: token.accessor.clone(),
        expires_at: expires_at.clone(),
    };
    state.store.insert_lease(&login.lease_scope(), &row).await?;
    let left = expires.duration_since(std::time::SystemTime::now()).unwrap_or_default();
    Ok(HonestLease { expires_at, duration_secs: left.as_secs().min(duration.as_secs()) })
}
