//! Administering tenants (the operator's): create one, narrow its grants and
//! offboard it, each with a log line (and, for changes to a tenant, an audit
//! event). The handlers of `routes/tenants.rs` check the caller and map the answer.

use super::record;
use crate::auth::Caller;
use crate::domain::TenantId;
use crate::error::ApiError;
use crate::offboard;
use crate::state::AppState;
use crate::store::{StoreError, TenantRow};

/// Create tenant `id` named `name` (a checked label); 409 when it exists.
pub async fn create(state: &AppState, caller: &Caller, id: &TenantId, name: &str) -> Result<TenantRow, ApiError> {
    let row = state.store.create_tenant(id, name).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(format!("tenant {id} already exists")),
        other => other.into(),
    })?;
    tracing::info!(tenant = %id, by = %caller.label(), "tenant created");
    Ok(row)
}

/// Narrow what `tenant` may reach to `vault_addresses` and `methods` (each
/// within the global settings: 400 otherwise); 404 without the tenant.
pub async fn update_grants(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    vault_addresses: Option<&[String]>,
    methods: Option<&[String]>,
) -> Result<TenantRow, ApiError> {
    let grants = super::grants::checked(&state.settings, vault_addresses, methods)?;
    let row = state
        .store
        .update_tenant_grants(tenant, &grants)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    tracing::info!(tenant = %tenant, by = %caller.label(), vault_addresses = ?row.vault_addresses, methods = ?row.methods, "audit: tenant grants updated");
    record(state, caller, tenant, "tenant.update", None).await;
    Ok(row)
}

/// Offboard `tenant` ([`offboard::delete_tenant`]); 404 without the tenant.
/// The `tenant.delete` event itself stays.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    options: offboard::Options,
) -> Result<(), ApiError> {
    let gone = offboard::delete_tenant(state, tenant, options).await?;
    tracing::info!(
        tenant = %tenant, by = %caller.label(), profiles = gone.profiles.len(), keys = gone.keys,
        audit_events_deleted = gone.audit_events, keep_leases = options.keep_leases, "audit: tenant deleted"
    );
    record(state, caller, tenant, "tenant.delete", None).await;
    Ok(())
}
