//! Leases a profile issued: renew, revoke and lookup for the REST routes and
//! the Vault-compatible endpoint alike. Only leases recorded for this profile
//! at its Vault are accepted (any other: 404, never telling whose it is); the
//! call is made with the issuing token when this replica holds it.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::Reads;
use super::token_error;
use crate::domain::method_block::parse_go_duration;
use crate::domain::secret_path::LeaseId;
use crate::error::ApiError;
use crate::leases::{TokenRef, rfc3339};
use crate::store::LeaseRow;
use crate::tokens::ProfileLogin;
use crate::vault::{self, Op};

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

/// An `increment` as seconds: a number, or a duration like `"1h"`.
pub fn increment_seconds(v: &Option<Value>) -> Result<Option<u64>, ApiError> {
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
pub fn lease_id(raw: &str) -> Result<LeaseId, ApiError> {
    LeaseId::parse(raw).map_err(|e| ApiError::field("/lease_id", e))
}

/// The lease row, if this tenant's profile issued it at its Vault; 404 otherwise (never telling whose it is).
async fn owned_lease(state: &Reads<'_>, login: &ProfileLogin, lease_id: &LeaseId) -> Result<LeaseRow, ApiError> {
    state
        .store
        .get_lease(&login.lease_scope(), lease_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no lease with this id was issued through this profile".into()))
}

/// The token to call Vault with: the issuing one if this replica holds it, else the profile's current one.
async fn calling_token(state: &Reads<'_>, login: &ProfileLogin, lease_id: &LeaseId) -> Result<TokenRef, ApiError> {
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

/// Call `op` on a lease `login`'s profile issued, with the token [`calling_token`]
/// picks: Vault's answer, or the refusal in words (`what`: renew, revoke, lookup).
async fn lease_call(
    state: &Reads<'_>,
    login: &ProfileLogin,
    lease_id: &LeaseId,
    what: &str,
    op: Op<'_>,
) -> Result<(Value, TokenRef), ApiError> {
    owned_lease(state, login, lease_id).await?;
    let token = calling_token(state, login, lease_id).await?;
    let (status, answer) = state.tokens.vault_of(&token).call(&token.token, op).await?;
    if !status.is_success() {
        return Err(vault_failure(what, status, &answer));
    }
    Ok((answer, token))
}

/// Renew a lease `login`'s profile issued: Vault's answer, made honest (and Vault's raw answer).
pub async fn renew(
    state: &Reads<'_>,
    login: &ProfileLogin,
    lease_id: &LeaseId,
    increment: Option<u64>,
) -> Result<(RenewedLease, Value), ApiError> {
    let (answer, token) = lease_call(state, login, lease_id, "renew", Op::LeaseRenew(lease_id, increment)).await?;
    let granted = Duration::from_secs(agent_runner::verify::vault_seconds(answer.get("lease_duration")).unwrap_or(0));
    let scope = login.lease_scope();
    let expires = state.tokens.leases().renewed(&scope, lease_id, SystemTime::now() + granted, &token).await;
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

/// Revoke a lease `login`'s profile issued. Every kept answer that carries it
/// leaves the secret cache, so no caller is handed the revoked credentials.
pub async fn revoke(state: &Reads<'_>, login: &ProfileLogin, lease_id: &LeaseId) -> Result<(), ApiError> {
    lease_call(state, login, lease_id, "revoke", Op::LeaseRevoke(lease_id)).await?;
    state.secrets.drop_matching(login.tenant(), login.name(), |read| read.found.lease_id == lease_id.as_str());
    let scope = login.lease_scope();
    state.store.delete_lease(&scope, lease_id).await?;
    state.tokens.leases().revoked(&scope, lease_id);
    Ok(())
}

/// Look a lease `login`'s profile issued up in Vault (`sys/leases/lookup`): Vault's answer.
pub async fn lookup(state: &Reads<'_>, login: &ProfileLogin, lease_id: &LeaseId) -> Result<Value, ApiError> {
    lease_call(state, login, lease_id, "lookup", Op::LeaseLookup(lease_id)).await.map(|(answer, _)| answer)
}
