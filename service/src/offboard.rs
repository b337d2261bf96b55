//! Offboarding a tenant (`DELETE /v1/tenants/{tenant}`): the operator's way to
//! end a tenant without touching any other.
//!
//! In order: the rows go in one transaction (keys, profiles, lease records,
//! EC2 nonces no other tenant's profile logs in with, and the audit trail
//! unless `keep_audit`), which also stops every new request of the tenant (its keys are gone:
//! 401; its profiles: 404); then each profile's tokens are revoked in Vault, and
//! with them the credentials they issued, unless `keep_leases` lets them retire
//! with their leases; kept secret answers are dropped. A read already past its
//! checks finishes with the token it holds.

use crate::domain::TenantId;
use crate::error::ApiError;
use crate::login::ProfileLogin;
use crate::state::AppState;
use crate::store::{NoncePlace, Offboarded};

/// How a tenant goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Let the credentials the tenant's tokens issued live until their leases end.
    pub keep_leases: bool,
    /// Keep the tenant's audit trail until `AUTH_SERVICE_AUDIT_RETENTION` prunes it
    /// (default: it goes with the tenant).
    pub keep_audit: bool,
}

/// Delete `tenant` and everything of it; NotFound when there is no such tenant.
pub async fn delete_tenant(state: &AppState, tenant: &TenantId, options: Options) -> Result<Offboarded, ApiError> {
    let profiles = state.store.list_profiles(tenant).await?;
    let logins: Vec<ProfileLogin> =
        profiles.iter().filter_map(|row| ProfileLogin::from_row(row, &state.policy).ok()).collect();
    let unshared = unshared_nonce_places(state, tenant, &logins).await?;
    if options.keep_leases {
        // The lease rows go with the tenant: the tokens behind live leases are kept by their ends.
        let now = crate::leases::rfc3339(std::time::SystemTime::now());
        let ends = state.store.live_lease_ends_of_tenant(tenant, &now).await?;
        let ends: Vec<_> = ends
            .into_iter()
            .filter_map(|(scope, accessor, end)| Some((scope, accessor, humantime::parse_rfc3339(&end).ok()?)))
            .collect();
        state.tokens.leases().keep_until(ends).await;
    }
    let gone = state
        .store
        .delete_tenant(tenant, !options.keep_audit, &unshared)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    // Profiles written between the listing and the delete are in `gone`: revoke from it.
    for row in &gone.profiles {
        if let Ok(login) = ProfileLogin::from_row(row, &state.policy) {
            state.tokens.forget_deleted(&login, options.keep_leases).await;
        }
        state.secrets.drop_profile(tenant, &row.name);
    }
    Ok(gone)
}

/// The nonce places of `tenant`'s ec2 profiles that no other tenant's profile logs in at.
async fn unshared_nonce_places(
    state: &AppState,
    tenant: &TenantId,
    logins: &[ProfileLogin],
) -> Result<Vec<NoncePlace>, ApiError> {
    let mut out: Vec<NoncePlace> = Vec::new();
    for login in logins.iter().filter(|l| l.block.is_ec2()) {
        let place = place_of(login);
        if out.contains(&place) {
            continue;
        }
        let others = state.store.other_tenants_profiles_at(tenant, login.address.as_str()).await?;
        let shared = others
            .iter()
            .filter_map(|row| ProfileLogin::from_row(row, &state.policy).ok())
            .any(|other| other.block.is_ec2() && place_of(&other) == place);
        if !shared {
            out.push(place);
        }
    }
    Ok(out)
}

fn place_of(login: &ProfileLogin) -> NoncePlace {
    let key = crate::ec2::nonce_key(&login.address, login.namespace.as_deref(), &login.block.mount_path, "");
    NoncePlace { vault_address: key.vault_address, namespace: key.namespace, mount_path: key.mount_path }
}
