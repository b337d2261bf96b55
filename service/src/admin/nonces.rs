//! EC2 nonces of a tenant's profiles: what the service holds for a profile's
//! EC2 login (never the nonce itself), and starting over with a new one, with
//! a log line and an audit event. The handlers of `routes/ec2_nonce.rs` check
//! the caller and map the answer.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::record;
use crate::auth::Caller;
use crate::domain::{ProfileName, TenantId};
use crate::ec2;
use crate::error::ApiError;
use crate::reads::load_login;
use crate::state::AppState;
use crate::store::{NonceKey, NonceRow};
use crate::tokens::ProfileLogin;

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
    /// RFC 3339: the last login that used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// Short non-reversible fingerprint to tell nonces apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many times it was reset.
    pub reset_count: i64,
    /// The Vault command that clears this instance's access-list entry.
    pub vault_command: String,
}

/// The nonce state of profile `name`'s EC2 login key on this host.
pub async fn show(state: &AppState, tenant: &TenantId, name: &ProfileName) -> Result<NonceInfo, ApiError> {
    let (login, key) = context(state, tenant, name).await?;
    let row = state.store.nonce_get(&key).await?;
    Ok(nonce_info(&login, &key, row.as_ref()))
}

/// Start over with a new nonce for profile `name`'s EC2 login key; 409 for a
/// tenant admin when another tenant's profile shares it (the operator's alone).
pub async fn reset(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    name: &ProfileName,
) -> Result<NonceInfo, ApiError> {
    let (login, key) = context(state, tenant, name).await?;
    if !matches!(caller, Caller::Operator) && shared_with_other_tenants(state, &login, &key).await? {
        return Err(ApiError::Conflict(
            "other tenants' profiles log in with this same EC2 nonce (same Vault, namespace and mount from this host); a new nonce would break their logins, so only the operator can reset it. Ask the operator.".into(),
        ));
    }
    let row = state.store.nonce_reset(&key, &ec2::new_nonce()).await?;
    state.tokens.forget(&login).await;
    tracing::warn!(
        tenant = %login.tenant(), profile = %login.name(), by = %caller.label(),
        vault_address = %key.vault_address, namespace = %key.namespace, mount_path = %key.mount_path,
        instance_id = %key.instance_id, fingerprint = %ec2::fingerprint(&row.value),
        "audit: ec2 nonce reset"
    );
    record(state, caller, login.tenant(), "nonce.reset", Some(login.name())).await;
    Ok(nonce_info(&login, &key, Some(&row)))
}

/// The profile's parsed login and its nonce key on this host: 404 without the
/// profile, 400 when it is not an ec2 profile, 503 off EC2.
async fn context(
    state: &AppState,
    tenant: &TenantId,
    name: &ProfileName,
) -> Result<(Arc<ProfileLogin>, NonceKey), ApiError> {
    let login = load_login(&state.reads(), tenant, name).await?;
    if !login.block.is_ec2() {
        return Err(ApiError::field("/method/config/type", "this profile does not use ec2 auth, so it has no nonce"));
    }
    let instance = state.tokens.identity().instance_id().await.map_err(|e| ApiError::Unavailable {
        detail: e.to_string(),
        hint: Some("ec2 nonces belong to an EC2 instance; this host has none".into()),
        retry_after: None,
    })?;
    let key = ec2::nonce_key(&login.address, login.namespace.as_deref(), &login.block.mount_path, &instance);
    Ok((login, key))
}

/// The answer about `key`, with its stored row if there is one.
fn nonce_info(login: &ProfileLogin, key: &NonceKey, row: Option<&NonceRow>) -> NonceInfo {
    NonceInfo {
        exists: row.is_some(),
        instance_id: key.instance_id.clone(),
        vault_address: key.vault_address.clone(),
        namespace: key.namespace.clone(),
        mount_path: key.mount_path.clone(),
        created_at: row.map(|r| r.created_at.clone()),
        last_used_at: row.and_then(|r| r.last_used_at.clone()),
        fingerprint: row.map(|r| ec2::fingerprint(&r.value)),
        reset_count: row.map_or(0, |r| r.reset_count),
        vault_command: format!("vault delete {}/identity-accesslist/{}", login.block.mount_path, key.instance_id),
    }
}

/// Whether an ec2 profile of another tenant logs in with the same nonce key.
/// (Which tenants, and how many, is never told to the caller.)
async fn shared_with_other_tenants(state: &AppState, login: &ProfileLogin, key: &NonceKey) -> Result<bool, ApiError> {
    let others = state.store.other_tenants_profiles_at(login.tenant(), login.address.as_str()).await?;
    Ok(others.iter().filter_map(|row| ProfileLogin::from_row(row, &state.policy).ok()).any(|other| {
        other.block.is_ec2()
            && ec2::nonce_key(&other.address, other.namespace.as_deref(), &other.block.mount_path, &key.instance_id)
                == *key
    }))
}
