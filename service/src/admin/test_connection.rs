//! Test connection: run the whole chain (agent login, token verification,
//! test secret read) for a parsed profile and explain the outcome in words an
//! admin can act on. The handlers (`routes::test_connection` for a stored
//! profile, `routes::console_api` for a dry run) only call [`run`].

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use utoipa::ToSchema;

use super::load_profile;
use crate::auth::Caller;
use crate::domain::SecretPath;
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens::{CACHE_MARGIN, FreshToken, LoginFailure, ProfileLogin, Step};
use crate::vault::{self, ReadOutcome};

/// One step of a test-connection report.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestStep {
    /// `agent_login`, `verify_token` or `read_test_secret`.
    pub step: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// Time spent.
    pub duration_ms: u64,
    /// What happened.
    pub detail: String,
}

/// Facts about the token a test obtained (never the token).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenSummary {
    /// Seconds left.
    pub ttl_seconds: u64,
    /// Policies.
    pub policies: Vec<String>,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// Who logged in, from the token's metadata: `auth_path` and, where the
    /// method reports them, `role`, `canonical_arn`, `account_id`, ... Never the token.
    #[schema(value_type = Object)]
    pub identity: std::collections::BTreeMap<String, String>,
}

/// The test-connection report.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestReport {
    /// Whether every step passed.
    pub ok: bool,
    /// Steps in order.
    pub steps: Vec<TestStep>,
    /// The token's facts, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSummary>,
    /// What to do, when the service knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Things that work now but will bite later.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Tokens shorter-lived than this get a warning: the seed's threshold for costly respawns.
const SHORT_TTL: std::time::Duration = std::time::Duration::from_secs(300);

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Test a stored profile: a fresh login (ignoring cache and back-off), the
/// token kept as the cached one, the outcome recorded on the profile and
/// audited. The profile exists, so the answer is a report even when the stored
/// method block is no longer accepted (for example, its type was disabled).
pub async fn test_stored(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    name: &ProfileName,
) -> Result<TestReport, ApiError> {
    let row = load_profile(state, tenant, name).await?;
    let mut steps = Vec::new();
    let warnings = Vec::new();
    let login = match ProfileLogin::from_row(&row, &state.policy) {
        Ok(login) => Arc::new(login),
        Err(e) => {
            steps.push(TestStep { step: "agent_login", ok: false, duration_ms: 0, detail: e.to_string() });
            let hint = Some("replace the profile with a method block this service accepts".to_string());
            return Ok(TestReport { ok: false, steps, token: None, hint, warnings });
        }
    };
    cooldown(state, &login)?;
    let report = crate::error::within(state.settings.request_timeout, run(state, &login, Keep::Cache)).await?;
    if let Err(e) = state.store.record_test(tenant, name, row.revision, report.ok).await {
        tracing::warn!(error = %e, "could not record the test outcome");
    }
    tracing::info!(tenant = %tenant, profile = %name, ok = report.ok, "test connection");
    state
        .audit
        .record_admin(
            caller,
            crate::audit::Event {
                tenant,
                action: "profile.test",
                profile: Some(name.as_str()),
                path: None,
                outcome: if report.ok { "ok" } else { "failed" },
                started: None,
            },
        )
        .await;
    Ok(report)
}

/// One test connection per profile content per `AUTH_SERVICE_TEST_COOLDOWN`:
/// each one runs an agent, so a button pressed repeatedly gets 429 with Retry-After.
fn cooldown(state: &AppState, login: &ProfileLogin) -> Result<(), ApiError> {
    let wait = state.settings.test_cooldown;
    if wait.is_zero() {
        return Ok(());
    }
    let mut last = state.last_tests.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if last.len() > 10_000 {
        last.retain(|_, at| now.duration_since(*at) < wait);
    }
    if let Some(at) = last.get(&login.key)
        && now.duration_since(*at) < wait
    {
        let left = wait - now.duration_since(*at);
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "this profile was tested {} ms ago; a test runs an agent, so tests of one profile are at least {} s apart",
                now.duration_since(*at).as_millis(),
                wait.as_secs_f64()
            ),
            retry_after: left,
        });
    }
    last.insert(login.key.clone(), now);
    Ok(())
}

/// What happens to the fresh token after a test.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// It becomes the profile's cached token (a stored profile).
    Cache,
    /// It is revoked at once (a dry run: nothing stored, nothing cached).
    Discard,
}

/// Run the whole chain for a parsed profile and explain the outcome.
pub async fn run(state: &AppState, login: &ProfileLogin, keep: Keep) -> Result<TestReport, ApiError> {
    let warnings = Vec::new();
    if let Some(reason) = crate::reads::resolve::trust_problem(&state.reads(), login).await? {
        let steps = vec![TestStep { step: "agent_login", ok: false, duration_ms: 0, detail: reason }];
        let hint = Some(
            "the operator narrowed what this tenant may reach: replace the profile, or ask the operator (GET /v1/tenants/{tenant} shows the grants)".to_string(),
        );
        return Ok(TestReport { ok: false, steps, token: None, hint, warnings });
    }
    let fresh = match state.tokens.login(login).await {
        Ok(fresh) => fresh,
        Err(failure) => {
            let steps = failed_login_steps(&failure);
            return Ok(TestReport { ok: false, steps, token: None, hint: failure.hint, warnings });
        }
    };
    let mut steps = login_steps(login, &fresh);
    let warnings = ttl_warnings(fresh.info.ttl);
    let mut ok = true;
    let mut hint = None;
    if let Some(secret_path) = &login.test_secret_path {
        let (step, read_hint) = read_test_secret(state, login, &fresh, secret_path).await;
        (ok, hint) = (step.ok, read_hint);
        steps.push(step);
    }
    let token = TokenSummary {
        ttl_seconds: fresh.info.ttl.as_secs(),
        policies: fresh.info.policies.clone(),
        renewable: fresh.info.renewable,
        identity: fresh.info.identity.iter().cloned().collect(),
    };
    match keep {
        Keep::Cache => state.tokens.store_fresh(login, &fresh).await,
        Keep::Discard => state.tokens.discard(login, &fresh),
    }
    Ok(TestReport { ok, steps, token: Some(token), hint, warnings })
}

/// The steps of a failed login: the role assumed (if it was), the agent's
/// login when only the verification failed, and the step that failed.
fn failed_login_steps(failure: &LoginFailure) -> Vec<TestStep> {
    let mut steps = Vec::new();
    if let Some(a) = &failure.assumed {
        steps.push(TestStep { step: "assume_role", ok: true, duration_ms: ms(a.elapsed), detail: a.detail.clone() });
    }
    let step = match failure.step {
        Step::AssumeRole => "assume_role",
        Step::AgentLogin => "agent_login",
        Step::VerifyToken => {
            steps.push(TestStep {
                step: "agent_login",
                ok: true,
                duration_ms: failure.login_elapsed.map_or(0, ms),
                detail: "the agent wrote a token".into(),
            });
            "verify_token"
        }
    };
    steps.push(TestStep { step, ok: false, duration_ms: ms(failure.elapsed), detail: failure.detail.clone() });
    steps
}

/// The steps of a login that worked: the role assumed (if any), the agent's login, the token verified.
fn login_steps(login: &ProfileLogin, fresh: &FreshToken) -> Vec<TestStep> {
    let mut steps = Vec::new();
    if let Some(a) = &fresh.assumed {
        steps.push(TestStep { step: "assume_role", ok: true, duration_ms: ms(a.elapsed), detail: a.detail.clone() });
    }
    steps.push(TestStep {
        step: "agent_login",
        ok: true,
        duration_ms: ms(fresh.login_elapsed),
        detail: format!("logged in with {} at {}", login.block.method_type().as_str(), login.block.mount_path),
    });
    steps.push(TestStep {
        step: "verify_token",
        ok: true,
        duration_ms: ms(fresh.verify_elapsed),
        detail: format!(
            "token valid for {} s with policies [{}]",
            fresh.info.ttl.as_secs(),
            fresh.info.policies.join(", ")
        ),
    });
    steps
}

/// What a token's TTL will cost later: too short to cache, short, or never ending.
fn ttl_warnings(ttl: std::time::Duration) -> Vec<String> {
    let mut warnings = Vec::new();
    if !ttl.is_zero() && ttl <= CACHE_MARGIN {
        warnings.push(format!(
            "the token TTL ({} s) is at or under {} s, so tokens cannot be cached and every secret read starts an agent; raise token_ttl on the role",
            ttl.as_secs(),
            CACHE_MARGIN.as_secs()
        ));
    } else if !ttl.is_zero() && ttl < SHORT_TTL {
        warnings.push(format!(
            "the token TTL ({} s) is under {} minutes: each login is an agent run (and, for AWS, a round trip to STS), so short tokens cost many of them; raise token_ttl on the role to at least {} minutes",
            ttl.as_secs(),
            SHORT_TTL.as_secs() / 60,
            SHORT_TTL.as_secs() / 60
        ));
    }
    if ttl.is_zero() {
        warnings.push(
            "the token never expires; the service caches it for its configured maximum and then logs in again".into(),
        );
    }
    warnings
}

/// Read the profile's test secret with the fresh token: the step, and a hint when it failed in a known way.
async fn read_test_secret(
    state: &AppState,
    login: &ProfileLogin,
    fresh: &FreshToken,
    secret_path: &SecretPath,
) -> (TestStep, Option<String>) {
    let started = Instant::now();
    let no_query = crate::domain::secret_path::ReadQuery::default();
    let outcome = state.tokens.vault(login).read(&fresh.token, vault::Op::Read(secret_path, &no_query)).await;
    let mut hint = None;
    let (ok, detail) = match outcome {
        Ok(ReadOutcome::Found(_)) => (true, format!("read {secret_path}")),
        Ok(ReadOutcome::NotFound) => {
            hint = Some(format!(
                "nothing at {secret_path}: check the path (KV v2 paths look like secret/data/<path>) and the namespace"
            ));
            (false, format!("{secret_path} not found"))
        }
        Ok(ReadOutcome::Forbidden(e)) => {
            hint = Some(format!(
                "the token's policies [{}] do not grant read on {secret_path}; add a policy with path \"{secret_path}\" {{ capabilities = [\"read\"] }}",
                fresh.info.policies.join(", ")
            ));
            (false, format!("permission denied: {e}"))
        }
        Ok(ReadOutcome::Other(status, e)) => (false, format!("Vault answered HTTP {status}: {e}")),
        Err(e) => (false, e.to_string()),
    };
    (TestStep { step: "read_test_secret", ok, duration_ms: ms(started.elapsed()), detail }, hint)
}
