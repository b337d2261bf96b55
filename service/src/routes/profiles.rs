//! `/v1/tenants/{tenant}/profiles`: auth profiles, test connection, EC2 nonce.

use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{profile_target, tenant_id};
use crate::agent_config;
use crate::auth::{Caller, Scope};
use crate::domain::method_block::{self, FieldError};
use crate::domain::secret_path::check_secret_path;
use crate::domain::{Name, NameKind, VaultAddress};
use crate::ec2;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::{NewProfile, ProfileRow, StoreError};
use crate::tokens::{CACHE_MARGIN, ProfileLogin, Step};
use crate::vault::{self, ReadOutcome};

/// An auth profile as sent by an admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// Profile name, `^[a-z0-9][a-z0-9-]{0,62}$`, unique in the tenant (optional on replace; must match the path).
    #[schema(example = "snowflake-prod")]
    pub name: Option<String>,
    /// Vault base address.
    #[schema(example = "https://vault.example.com:8200")]
    pub vault_address: String,
    /// Vault namespace for login and reads.
    #[schema(example = "team-a")]
    pub namespace: Option<String>,
    /// The agent's auto_auth method block as JSON (see schemas/method-block.schema.json).
    #[schema(value_type = Object, example = json!({"type": "aws", "mount_path": "auth/aws", "config": {"type": "iam", "role": "alation-agent-role"}}))]
    pub method: Value,
    /// A secret path that test connection reads.
    #[schema(example = "secret/data/alation/snowflake")]
    pub test_secret_path: Option<String>,
}

/// A stored auth profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// Vault address.
    pub vault_address: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The method block as sent.
    #[schema(value_type = Object)]
    pub method: Value,
    /// Secret read by test connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_secret_path: Option<String>,
    /// 1, then +1 on each replace.
    pub revision: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<ProfileRow> for Profile {
    fn from(r: ProfileRow) -> Self {
        Profile {
            name: r.name,
            vault_address: r.vault_address,
            namespace: r.namespace,
            method: r.method,
            test_secret_path: r.test_secret_path,
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The profile list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileList {
    /// Profiles ordered by name.
    pub profiles: Vec<Profile>,
}

/// Validate a profile body: every problem at once, each with its pointer.
fn validate_input(state: &AppState, input: &ProfileInput, name: &str) -> Result<NewProfile, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let address = match VaultAddress::parse(&input.vault_address) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push(FieldError::new("/vault_address", e));
            None
        }
    };
    let namespace = input.namespace.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(ns) = namespace
        && let Err(e) = method_block::validate_namespace(ns)
    {
        errors.push(FieldError::new("/namespace", e));
    }
    let method_json = serde_json::to_vec(&input.method).unwrap_or_default();
    match method_block::validate_bytes(&method_json, &state.policy) {
        Ok(block) => {
            if let Err(e) = agent_config::effective_namespace(&block, namespace) {
                errors.push(FieldError::new("/namespace", e.to_string()));
            }
        }
        Err(block_errors) => {
            errors.extend(block_errors.into_iter().map(|e| FieldError::new(format!("/method{}", e.pointer), e.message)))
        }
    }
    if let Some(p) = &input.test_secret_path
        && let Err(e) = check_secret_path(p)
    {
        errors.push(FieldError::new("/test_secret_path", e));
    }
    if !errors.is_empty() {
        let detail = format!("{} problem(s) in the profile; see errors", errors.len());
        return Err(ApiError::Validation { detail, errors });
    }
    Ok(NewProfile {
        name: name.to_string(),
        vault_address: address.map(|a| a.as_str().to_string()).unwrap_or_default(),
        namespace: namespace.map(|n| n.trim_end_matches('/').to_string()),
        method: input.method.clone(),
        test_secret_path: input.test_secret_path.clone(),
    })
}

async fn load(state: &AppState, tenant: &Name, name: &Name) -> Result<ProfileRow, ApiError> {
    state
        .store
        .get_profile(tenant.as_str(), name.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))
}

/// Load a profile and parse it for login.
pub async fn load_login(state: &AppState, tenant: &Name, name: &Name) -> Result<Arc<ProfileLogin>, ApiError> {
    let row = load(state, tenant, name).await?;
    state.tokens.parse(&row, &state.policy).await.map_err(|e| ApiError::Unavailable {
        detail: e,
        hint: Some("replace the profile with a method block this service accepts".into()),
        retry_after: None,
    })
}

/// Create an auth profile (tenant admin).
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = Profile), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles")]
pub async fn create_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require(tenant.as_str(), Scope::Admin)?;
    let raw_name = body.name.as_deref().ok_or_else(|| ApiError::field("/name", "required: the profile name"))?;
    let name = Name::parse(raw_name, NameKind::Profile).map_err(|e| ApiError::field("/name", e))?;
    let new = validate_input(&state, &body, name.as_str())?;
    let row = state.store.create_profile(tenant.as_str(), &new).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(format!("profile {name} already exists; use PUT to replace it")),
        other => other.into(),
    })?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), "profile created");
    Ok(HttpResponse::Created().json(Profile::from(row)))
}

/// List auth profiles (tenant admin).
#[utoipa::path(tag = "profiles", security(("bearer" = [])), params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = ProfileList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles")]
pub async fn list_profiles(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require(tenant.as_str(), Scope::Admin)?;
    let profiles = state.store.list_profiles(tenant.as_str()).await?.into_iter().map(Profile::from).collect();
    Ok(HttpResponse::Ok().json(ProfileList { profiles }))
}

/// Read an auth profile (tenant admin).
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = Profile), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn get_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    Ok(HttpResponse::Ok().json(Profile::from(load(&state, &tenant, &name).await?)))
}

/// Replace an auth profile (tenant admin): revision +1, the cached token is dropped and revoked.
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = Profile), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[put("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn replace_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    if let Some(body_name) = &body.name
        && body_name != name.as_str()
    {
        return Err(ApiError::field(
            "/name",
            format!("must be {name:?} (the name in the path) or left out; profiles cannot be renamed"),
        ));
    }
    let new = validate_input(&state, &body, name.as_str())?;
    let old = load(&state, &tenant, &name).await?;
    let row = state
        .store
        .replace_profile(tenant.as_str(), name.as_str(), &new)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))?;
    if let Ok(old_login) = ProfileLogin::from_row(&old, &state.policy) {
        state.tokens.forget(&old_login).await;
    }
    tracing::info!(tenant = %tenant, profile = %name, revision = row.revision, by = %caller.label(), "profile replaced");
    Ok(HttpResponse::Ok().json(Profile::from(row)))
}

/// Delete an auth profile (tenant admin): the cached token is dropped and revoked.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn delete_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    let row = state
        .store
        .delete_profile(tenant.as_str(), name.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))?;
    if let Ok(login) = ProfileLogin::from_row(&row, &state.policy) {
        state.tokens.forget(&login).await;
    }
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), "profile deleted");
    Ok(HttpResponse::NoContent().finish())
}

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

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Test connection (tenant admin): a fresh agent login (ignoring cache and back-off),
/// token verification and the optional test secret read. Always 200; the outcome is in the body.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = TestReport), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/test")]
pub async fn test_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    // The profile exists, so the answer is a 200 report even when the stored
    // method block is no longer accepted (for example, its type was disabled).
    let row = load(&state, &tenant, &name).await?;
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let login = match state.tokens.parse(&row, &state.policy).await {
        Ok(login) => login,
        Err(detail) => {
            steps.push(TestStep { step: "agent_login", ok: false, duration_ms: 0, detail });
            let hint = Some("replace the profile with a method block this service accepts".to_string());
            return Ok(HttpResponse::Ok().json(TestReport { ok: false, steps, token: None, hint, warnings }));
        }
    };
    let fresh = match state.tokens.login(&login).await {
        Ok(fresh) => fresh,
        Err(failure) => {
            let step = match failure.step {
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
            steps.push(TestStep { step, ok: false, duration_ms: ms(failure.elapsed), detail: failure.detail });
            return Ok(HttpResponse::Ok().json(TestReport {
                ok: false,
                steps,
                token: None,
                hint: failure.hint,
                warnings,
            }));
        }
    };
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
    if !fresh.info.ttl.is_zero() && fresh.info.ttl <= CACHE_MARGIN {
        warnings.push(format!(
            "the token TTL ({} s) is at or under {} s, so tokens cannot be cached and every secret read starts an agent; raise token_ttl on the role",
            fresh.info.ttl.as_secs(),
            CACHE_MARGIN.as_secs()
        ));
    }
    if fresh.info.ttl.is_zero() {
        warnings.push(
            "the token never expires; the service caches it for its configured maximum and then logs in again".into(),
        );
    }
    let mut ok = true;
    let mut hint = None;
    if let Some(secret_path) = &login.test_secret_path {
        let started = Instant::now();
        let outcome = vault::read(
            state.tokens.http(),
            &login.address,
            login.namespace.as_deref(),
            &fresh.token,
            secret_path,
            "",
            state.tokens.vault_timeout(),
        )
        .await;
        let (step_ok, detail) = match outcome {
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
        ok = step_ok;
        steps.push(TestStep { step: "read_test_secret", ok: step_ok, duration_ms: ms(started.elapsed()), detail });
    }
    let token = TokenSummary {
        ttl_seconds: fresh.info.ttl.as_secs(),
        policies: fresh.info.policies.clone(),
        renewable: fresh.info.renewable,
    };
    state.tokens.store_fresh(&login, &fresh).await;
    tracing::info!(tenant = %tenant, profile = %name, ok, "test connection");
    Ok(HttpResponse::Ok().json(TestReport { ok, steps, token: Some(token), hint, warnings }))
}

/// What the service holds for a profile's EC2 login key (never the nonce).
#[derive(Debug, Serialize, ToSchema)]
pub struct NonceInfo {
    /// Whether a nonce exists for this host, Vault, namespace and mount.
    pub exists: bool,
    /// This host's instance id.
    pub instance_id: String,
    /// The Vault address, namespace and mount the nonce belongs to.
    pub vault_address: String,
    /// Namespace ("" for none).
    pub namespace: String,
    /// Mount path.
    pub mount_path: String,
    /// RFC 3339 creation time of the current nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Short non-reversible fingerprint to tell nonces apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many times it was reset.
    pub reset_count: i64,
    /// The Vault command that clears this instance's access-list entry.
    pub vault_command: String,
}

async fn nonce_context(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    name: &str,
) -> Result<(Arc<ProfileLogin>, crate::store::NonceKey), ApiError> {
    let (tenant, name) = profile_target(caller, tenant, name, Scope::Admin)?;
    let login = load_login(state, &tenant, &name).await?;
    if !login.block.is_ec2() {
        return Err(ApiError::field("/method/config/type", "this profile does not use ec2 auth, so it has no nonce"));
    }
    let instance = state.tokens.identity().instance_id().await.map_err(|e| ApiError::Unavailable {
        detail: e,
        hint: Some("ec2 nonces belong to an EC2 instance; this host has none".into()),
        retry_after: None,
    })?;
    let key = ec2::nonce_key(&login.address, login.namespace.as_deref(), &login.block.mount_path, &instance);
    Ok((login, key))
}

fn nonce_info(login: &ProfileLogin, key: &crate::store::NonceKey, row: Option<&crate::store::NonceRow>) -> NonceInfo {
    NonceInfo {
        exists: row.is_some(),
        instance_id: key.instance_id.clone(),
        vault_address: key.vault_address.clone(),
        namespace: key.namespace.clone(),
        mount_path: key.mount_path.clone(),
        created_at: row.map(|r| r.created_at.clone()),
        fingerprint: row.map(|r| ec2::fingerprint(&r.value)),
        reset_count: row.map_or(0, |r| r.reset_count),
        vault_command: format!("vault delete {}/identity-accesslist/{}", login.block.mount_path, key.instance_id),
    }
}

/// Show the EC2 nonce state of a profile's login key (tenant admin); never the value.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = NonceInfo), (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}/ec2-nonce")]
pub async fn get_nonce(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (login, key) = nonce_context(&state, &caller, &tenant, &name).await?;
    let row = state.store.nonce_get(&key).await?;
    Ok(HttpResponse::Ok().json(nonce_info(&login, &key, row.as_ref())))
}

/// Start over with a new EC2 nonce (tenant admin), after the Vault admin deleted
/// this instance's identity access-list entry. Applies to every profile that
/// logs in to the same Vault, namespace and mount from this host.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = NonceInfo), (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/ec2-nonce/reset")]
pub async fn reset_nonce(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (login, key) = nonce_context(&state, &caller, &tenant, &name).await?;
    let row = state.store.nonce_reset(&key, &ec2::new_nonce()).await?;
    state.tokens.forget(&login).await;
    tracing::warn!(
        tenant = %login.tenant, profile = %login.name, by = %caller.label(),
        vault_address = %key.vault_address, namespace = %key.namespace, mount_path = %key.mount_path,
        instance_id = %key.instance_id, fingerprint = %ec2::fingerprint(&row.value),
        "audit: ec2 nonce reset"
    );
    Ok(HttpResponse::Ok().json(nonce_info(&login, &key, Some(&row))))
}
