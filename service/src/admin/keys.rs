//! Administering a tenant's API keys: issue one (shown once, stored as a hash)
//! and revoke one, each with a log line and an audit event. The handlers of
//! `routes/api_keys.rs` check the caller and map the answer.

use secrecy::SecretString;

use super::record;
use crate::auth::{Caller, Scope, generate_key};
use crate::domain::TenantId;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ApiKeyRow, NewApiKey};

/// A key just issued: its stored row and the bearer key, never shown again.
pub struct IssuedKey {
    /// The stored key (no key material).
    pub row: ApiKeyRow,
    /// The bearer key.
    pub key: SecretString,
}

/// Issue a key named `name` (a checked label) with `scopes` in `tenant`;
/// 400 without a scope, 404 without the tenant.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    name: &str,
    scopes: &[Scope],
) -> Result<IssuedKey, ApiError> {
    if scopes.is_empty() {
        return Err(ApiError::field("/scopes", "give at least one scope: \"admin\" or \"read\""));
    }
    if !state.store.tenant_exists(tenant).await? {
        return Err(ApiError::NotFound(format!("no tenant {tenant}")));
    }
    let mut scopes: Vec<Scope> = scopes.to_vec();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let generated = generate_key();
    let row = state
        .store
        .insert_api_key(
            tenant,
            &NewApiKey {
                id: generated.id.clone(),
                name: name.to_string(),
                scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                secret_sha256: generated.secret_sha256,
            },
        )
        .await?;
    tracing::info!(tenant = %tenant, key_id = %row.id, by = %caller.label(), "api key created");
    record(state, caller, tenant, "key.create", None).await;
    Ok(IssuedKey { row, key: generated.key })
}

/// Revoke key `id` of `tenant`; 404 when there is none.
pub async fn revoke(state: &AppState, caller: &Caller, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
    if !state.store.delete_api_key(tenant, id).await? {
        return Err(ApiError::NotFound(format!("no api key {id}")));
    }
    tracing::info!(tenant = %tenant, key_id = %id, by = %caller.label(), "api key revoked");
    record(state, caller, tenant, "key.revoke", None).await;
    Ok(())
}
