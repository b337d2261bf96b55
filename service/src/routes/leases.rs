//! `/v1/tenants/{tenant}/profiles/{name}/leases/{renew,revoke}`: connectors
//! renew or revoke the dynamic credentials a profile issued. Only leases
//! issued through this tenant's profile are accepted (any other: 404).

use std::time::{Duration, SystemTime};

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::profile_target;
use super::resolve::load_login;
use super::secrets::token_error;
use crate::auth::{Caller, Scope};
use crate::domain::method_block::parse_go_duration;
use crate::domain::secret_path::LeaseId;
use crate::error::{ApiError, Problem};
use crate::leases::{TokenRef, rfc3339};
use crate::state::AppState;
use crate::store::LeaseRow;
use crate::tokens::ProfileLogin;
use crate::vault::{self, Op, VaultError};

/// A lease to renew.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewInput {
    /// The lease id a secret read returned.
    #[schema(example = "database/creds/app/3XcT7uJ2Bq")]
    pub lease_id: String,
    /// The new duration asked for: seconds, or a duration like `"1h"` (Vault may grant less).
    #[schema(value_type = Option<Object>, example = 3600)]
    pub increment: Option<Value>,
}

/// A lease to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    /// The lease id a secret read returned.
    pub lease_id: String,
}

/// A renewed lease, with its honest end.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewedLease {
    /// The lease id.
    pub lease_id: String,
    /// Seconds left, clamped to `expires_at`.
    pub lease_duration: u64,
    /// Whether it can be renewed again.
    pub renewable: bool,
    /// RFC 3339: the earlier of the lease's end and its issuing token's latest possible end.
    pub expires_at: String,
}

pub(crate) fn increment_seconds(v: &Option<Value>) -> Result<Option<u64>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| ApiError::field("/increment", "a whole number of seconds"))
        }
        Some(Value::String(s)) => parse_go_duration(s)
            .map(|d| Some(d.as_secs()))
            .ok_or_else(|| ApiError::field("/increment", "seconds, or a duration like \"1h\" or \"90m\"")),
        Some(_) => Err(ApiError::field("/increment", "seconds, or a duration like \"1h\"")),
    }
}

/// A lease id as a caller sent it, parsed.
pub(crate) fn lease_id(raw: &str) -> Result<LeaseId, ApiError> {
    LeaseId::parse(raw).map_err(|e| ApiError::field("/lease_id", e))
}

/// The lease row, if this tenant's profile issued it at its Vault; 404 otherwise (never telling whose it is).
async fn owned_lease(state: &AppState, login: &ProfileLogin, lease_id: &LeaseId) -> Result<LeaseRow, ApiError> {
    state
        .store
        .get_lease(&login.lease_scope(), lease_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no lease with this id was issued through this profile".into()))
}

/// The token to call Vault with: the issuing one if this replica holds it, else the profile's current one.
async fn calling_token(state: &AppState, login: &ProfileLogin, lease_id: &LeaseId) -> Result<TokenRef, ApiError> {
    if let Some(issuer) = state.tokens.leases().issuer(&login.lease_scope(), lease_id) {
        return Ok(issuer);
    }
    let (token, _) = state.tokens.get(login).await.map_err(token_error)?;
    Ok(token.lease_ref.clone())
}

fn vault_failure(op: &str, status: reqwest::StatusCode, body: &Value) -> ApiError {
    let detail = format!("Vault refused to {op} the lease: {}", vault::vault_errors(body));
    if status == reqwest::StatusCode::FORBIDDEN {
        return ApiError::Upstream {
            status: actix_web::http::StatusCode::FORBIDDEN,
            detail,
            hint: Some(format!(
                "grant the role's policies: path \"sys/leases/{op}\" {{ capabilities = [\"update\"] }}"
            )),
        };
    }
    let status = if status.is_client_error() {
        actix_web::http::StatusCode::BAD_REQUEST
    } else {
        actix_web::http::StatusCode::BAD_GATEWAY
    };
    ApiError::Upstream { status, detail, hint: None }
}

fn unreachable(e: VaultError) -> ApiError {
    match e {
        VaultError::Timeout(..) => ApiError::GatewayTimeout(e.to_string()),
        other => ApiError::BadGateway(other.to_string()),
    }
}

/// Renew a lease this profile issued (read scope). The issuing token is renewed
/// as far as needed for the lease to reach its new end; the answer is honest.
#[utoipa::path(tag = "secrets", request_body = RenewInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = RenewedLease), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/leases/renew")]
pub async fn renew_lease(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RenewInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let increment = increment_seconds(&body.increment)?;
    let lease = lease_id(&body.lease_id)?;
    let login = load_login(&state, &tenant, &name).await?;
    let (renewed, _) = renew(&state, &login, &lease, increment).await?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), lease_duration = renewed.lease_duration, "lease renewed");
    crate::audit::record(
        &state,
        &caller,
        crate::audit::Event {
            tenant: &tenant,
            action: "lease.renew",
            profile: Some(name.as_str()),
            path: None,
            outcome: "ok",
            started: None,
        },
    );
    Ok(HttpResponse::Ok().json(renewed))
}

/// Renew a lease `login`'s profile issued: Vault's answer, made honest (and Vault's raw answer).
pub(crate) async fn renew(
    state: &AppState,
    login: &ProfileLogin,
    lease_id: &LeaseId,
    increment: Option<u64>,
) -> Result<(RenewedLease, Value), ApiError> {
    owned_lease(state, login, lease_id).await?;
    let token = calling_token(state, login, lease_id).await?;
    let (status, answer) = state
        .tokens
        .vault_of(&token)
        .call(&token.token, Op::LeaseRenew(lease_id, increment))
        .await
        .map_err(unreachable)?;
    if !status.is_success() {
        return Err(vault_failure("renew", status, &answer));
    }
    let granted = Duration::from_secs(agent_runner::verify::vault_seconds(answer.get("lease_duration")).unwrap_or(0));
    let scope = login.lease_scope();
    let expires = state.tokens.leases().renewed(&scope, lease_id, SystemTime::now() + granted).await;
    let expires_at = rfc3339(expires);
    state.store.update_lease_expiry(&scope, lease_id, &expires_at).await?;
    let left = expires.duration_since(SystemTime::now()).unwrap_or_default().as_secs().min(granted.as_secs());
    let renewed = RenewedLease {
        lease_id: lease_id.as_str().to_string(),
        lease_duration: left,
        renewable: answer["renewable"].as_bool().unwrap_or(false),
        expires_at,
    };
    Ok((renewed, answer))
}

/// Revoke a lease this profile issued (read scope): the credentials stop working at once.
#[utoipa::path(tag = "secrets", request_body = RevokeInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/leases/revoke")]
pub async fn revoke_lease(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RevokeInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let lease = lease_id(&body.lease_id)?;
    let login = load_login(&state, &tenant, &name).await?;
    revoke(&state, &login, &lease).await?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), "lease revoked");
    crate::audit::record(
        &state,
        &caller,
        crate::audit::Event {
            tenant: &tenant,
            action: "lease.revoke",
            profile: Some(name.as_str()),
            path: None,
            outcome: "ok",
            started: None,
        },
    );
    Ok(HttpResponse::NoContent().finish())
}

/// Revoke a lease `login`'s profile issued. Every kept answer that carries it
/// leaves the secret cache, so no caller is handed the revoked credentials.
pub(crate) async fn revoke(state: &AppState, login: &ProfileLogin, lease_id: &LeaseId) -> Result<(), ApiError> {
    owned_lease(state, login, lease_id).await?;
    let token = calling_token(state, login, lease_id).await?;
    let (status, answer) =
        state.tokens.vault_of(&token).call(&token.token, Op::LeaseRevoke(lease_id)).await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(vault_failure("revoke", status, &answer));
    }
    state.secrets.drop_matching(login.tenant(), login.name(), |read| read.found.lease_id == lease_id.as_str());
    let scope = login.lease_scope();
    state.store.delete_lease(&scope, lease_id).await?;
    state.tokens.leases().revoked(&scope, lease_id);
    Ok(())
}

/// Look a lease `login`'s profile issued up in Vault (`sys/leases/lookup`): Vault's answer.
pub(crate) async fn lookup(state: &AppState, login: &ProfileLogin, lease_id: &LeaseId) -> Result<Value, ApiError> {
    owned_lease(state, login, lease_id).await?;
    let token = calling_token(state, login, lease_id).await?;
    let (status, answer) =
        state.tokens.vault_of(&token).call(&token.token, Op::LeaseLookup(lease_id)).await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(vault_failure("lookup", status, &answer));
    }
    Ok(answer)
}

/// A lease as the list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseView {
    /// Vault's lease id.
    pub lease_id: String,
    /// RFC 3339: the honest end.
    pub expires_at: String,
}

/// The profile's leases that have not ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseList {
    /// Soonest end first, at most 500.
    pub leases: Vec<LeaseView>,
}

/// List the leases this profile issued that have not ended (read scope).
#[utoipa::path(tag = "secrets", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, description = "the profile's live leases", body = LeaseList),
              (status = 401, description = "no or unknown key", body = Problem),
              (status = 403, description = "the key lacks the read scope", body = Problem),
              (status = 404, description = "no such profile in this tenant", body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}/leases")]
pub async fn list_leases(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    load_login(&state, &tenant, &name).await?;
    let now = rfc3339(SystemTime::now());
    let leases = state.store.list_leases(&tenant, &name, &now).await?;
    let leases = leases.into_iter().map(|l| LeaseView { lease_id: l.lease_id, expires_at: l.expires_at }).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(LeaseList { leases }))
}
