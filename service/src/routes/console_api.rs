//! What the admin console (and other UIs) need beside the profile routes:
//! who a key is, the method-block schema the service enforces, what a tenant
//! may put in a profile, and dry runs (validate, render and test a profile
//! body without storing anything).

use std::path::Path;

use actix_web::{HttpResponse, get, post, web};
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::TenantAdmin;
use crate::admin::profile_input::{ProfileInput, invalid_profile, validate_input};
use crate::admin::test_connection::{Keep, TestReport, run};
use crate::agent_config::{self, AgentConfigInput};
use crate::auth::Caller;
use crate::domain::{FieldError, ProfileName, VaultAddress, method_block};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::ProfileRow;
use crate::tokens::ProfileLogin;
use crate::trust::TenantPolicy;

/// Who a key is.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// True for the operator key (the other fields are then absent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub operator: bool,
    /// The key's tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The key's id (not secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `admin` and/or `read`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// Who the presented key is: its tenant and scopes (a console signs in with this).
#[utoipa::path(tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
#[get("/v1/whoami")]
pub async fn whoami(caller: Caller) -> HttpResponse {
    let body = match caller {
        Caller::Operator => WhoAmI { operator: true, tenant: None, key_id: None, name: None, scopes: Vec::new() },
        Caller::Tenant { tenant, key_id, name, scopes } => WhoAmI {
            operator: false,
            tenant: Some(tenant.as_str().to_string()),
            key_id: Some(key_id),
            name: Some(name),
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
        },
    };
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body)
}

/// The JSON Schema of the method block, as the service enforces it (only the allowed types).
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    responses((status = 200, description = "a JSON Schema (draft 2020-12)", body = Object), (status = 401, body = Problem)))]
#[get("/v1/schemas/method-block")]
pub async fn method_block_schema(state: web::Data<AppState>, _caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(method_block::combined_schema(&state.policy))
}

/// A rendered agent configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rendered {
    /// The HCL the agent would run, with the sink path and any nonce masked.
    pub hcl: String,
}

/// The name a dry run of an unnamed (or badly named) profile body goes by.
fn dry_run_name() -> Result<ProfileName, ApiError> {
    ProfileName::parse("dry-run").map_err(|e| ApiError::Internal(e.to_string()))
}

/// A profile body as a stored row would be (nothing is stored).
async fn dry_login(
    state: &AppState,
    caller: Caller,
    tenant: &str,
    body: &ProfileInput,
) -> Result<ProfileLogin, ApiError> {
    let TenantAdmin { tenant, .. } = TenantAdmin::check(caller, tenant)?;
    let name = match body.name.as_deref() {
        Some(n) => ProfileName::parse(n).map_err(|e| ApiError::field("/name", e))?,
        None => dry_run_name()?,
    };
    let new = validate_input(state, &tenant, body, &name).await?;
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let row = ProfileRow {
        tenant_id: tenant.clone(),
        name: name.clone(),
        vault_address: new.vault_address,
        namespace: new.namespace,
        method: new.method.to_string(),
        test_secret_path: new.test_secret_path,
        revision: 0,
        created_at: now.clone(),
        updated_at: now,
        aws_role_arn: new.aws_role_arn,
        last_test: None,
        secret_cache: new.secret_cache,
    };
    ProfileLogin::from_row(&row, &state.policy).map_err(|e| ApiError::field("/method", e.to_string()))
}

/// The agent configuration a profile body would run (admin); the sink path and
/// any EC2 nonce are masked; nothing is stored. Invalid bodies get 400 as on create.
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = Rendered), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/render")]
pub async fn render_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let login = dry_login(&state, caller, &path, &body).await?;
    let masked_nonce = SecretString::from("<hidden: one nonce per host and mount, kept by the service>".to_string());
    let address = VaultAddress::parse(login.address.as_str()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let input = AgentConfigInput {
        vault_address: &address,
        namespace: login.namespace.as_deref(),
        sink_path: Path::new("/<private run folder>/token"),
        nonce: login.block.is_ec2().then_some(&masked_nonce),
        ca_cert: state.settings.vault_ca_cert.as_deref(),
    };
    let hcl = agent_config::render(&login.block, &input).map_err(|e| ApiError::field("/method", e.to_string()))?;
    Ok(HttpResponse::Ok().json(Rendered { hcl }))
}

/// The verdict on a profile body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verdict {
    /// Always true in a 200 (a body with problems gets 400 listing every one).
    pub valid: bool,
}

/// Validate a profile body (admin): 200 `{"valid":true}`, or 400 whose
/// `errors` list every problem at once (each with its pointer), exactly as
/// create and replace would; nothing is stored. The console calls it as the admin types.
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, description = "the body would be saved as it is", body = Verdict),
              (status = 400, description = "every problem of the body, each with its pointer", body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/validate")]
pub async fn validate_profile_body(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let TenantAdmin { tenant, .. } = TenantAdmin::check(caller, &path)?;
    let name_problem = body.name.as_deref().and_then(|n| ProfileName::parse(n).err());
    let placeholder = ProfileName::parse("dry-run").map_err(|e| ApiError::Internal(e.to_string()))?;
    let name = body.name.as_deref().and_then(|n| ProfileName::parse(n).ok()).unwrap_or(placeholder);
    let checked = validate_input(&state, &tenant, &body, &name).await;
    // A bad name is one more problem among the others, not a reason to hide them.
    match (checked, name_problem) {
        (Ok(_), None) => {
            Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(Verdict { valid: true }))
        }
        (Ok(_), Some(e)) => Err(ApiError::field("/name", e)),
        (Err(ApiError::Validation { mut errors, .. }), name_problem) => {
            if let Some(e) = name_problem {
                errors.insert(0, FieldError::new("/name", e.to_string()));
            }
            Err(invalid_profile(errors))
        }
        (Err(other), _) => Err(other),
    }
}

/// Test a profile body before saving it (admin): the whole chain, as test
/// connection runs it; nothing is stored and the token is revoked at once.
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = TestReport), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/test")]
pub async fn test_profile_body(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let login = dry_login(&state, caller, &path, &body).await?;
    let report = crate::error::within(state.settings.request_timeout, run(&state, &login, Keep::Discard)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// What a tenant may put in a profile: the effective grants (the operator's
/// narrowing applied to the global settings), for forms and their examples.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileOptions {
    /// Login types this tenant may use: `iam`, `ec2`, `jwt`.
    pub methods: Vec<String>,
    /// Vault origins allowed for this tenant (`scheme://host[:port]`, `*.` hosts, `:*` ports).
    pub vault_addresses: Vec<String>,
    /// Folders a `jwt` profile's token file must lie in (this tenant's own, one per allowed folder).
    pub jwt_folders: Vec<String>,
    /// The longest one login (a test connection's agent run) may take, in seconds.
    pub agent_timeout_seconds: u64,
}

/// What this tenant may put in a profile (admin): login types, Vault origins, token-file folders.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = ProfileOptions), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/profile-options")]
pub async fn profile_options(
    state: web::Data<AppState>,
    TenantAdmin { tenant, .. }: TenantAdmin,
) -> Result<HttpResponse, ApiError> {
    let row =
        state.store.get_tenant(&tenant).await?.ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    let policy = TenantPolicy::new(&state.settings, &row).map_err(|e| ApiError::Internal(e.to_string()))?;
    let global: Vec<String> = state.settings.vault_addresses.iter().map(ToString::to_string).collect();
    // A tenant's own list only narrows the global one (both must allow an address).
    let vault_addresses = match &row.vault_addresses {
        Some(own) => own.clone(),
        None => global,
    };
    let jwt_folders =
        state.settings.jwt_allowed_dirs.iter().map(|d| format!("{}/", d.join(tenant.as_str()).display())).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(ProfileOptions {
        methods: policy.kinds().iter().map(|k| k.as_str().to_string()).collect(),
        vault_addresses,
        jwt_folders,
        agent_timeout_seconds: state.settings.agent_timeout.as_secs(),
    }))
}
