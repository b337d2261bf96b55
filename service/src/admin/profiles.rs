//! Administering a tenant's auth profiles: create, replace and delete, each
//! with its store write, the token cache told, a log line and an audit event.
//! The handlers of `routes/profiles.rs` check the caller and map the answer.

use super::profile_input::{ProfileInput, validate_input};
use super::{load_profile, record};
use crate::auth::Caller;
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ProfileRow, StoreError};
use crate::tokens::ProfileLogin;

/// Create the profile `input` names in `tenant`; 409 when it exists.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    input: &ProfileInput,
) -> Result<ProfileRow, ApiError> {
    let raw_name = input.name.as_deref().ok_or_else(|| ApiError::field("/name", "required: the profile name"))?;
    let name = ProfileName::parse(raw_name).map_err(|e| ApiError::field("/name", e))?;
    let new = validate_input(state, tenant, input, &name).await?;
    let row = state.store.create_profile(tenant, &new).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::Conflict(format!("profile {name} already exists; use PUT to replace it")),
        other => other.into(),
    })?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), "profile created");
    record(state, caller, tenant, "profile.create", Some(&name)).await;
    Ok(row)
}

/// Replace profile `name` with `input` (revision +1); its cached token is
/// dropped and revoked. `if_match` is the `If-Match` revision as read at the
/// edge: a malformed header is refused only once the profile is found.
pub async fn replace(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    name: &ProfileName,
    input: &ProfileInput,
    if_match: Result<Option<i64>, ApiError>,
) -> Result<ProfileRow, ApiError> {
    if let Some(body_name) = &input.name
        && body_name != name.as_str()
    {
        return Err(ApiError::field(
            "/name",
            format!("must be {name:?} (the name in the path) or left out; profiles cannot be renamed"),
        ));
    }
    let new = validate_input(state, tenant, input, name).await?;
    let old = load_profile(state, tenant, name).await?;
    let wanted = if_match?;
    if let Some(w) = wanted
        && w != old.revision
    {
        return Err(ApiError::PreconditionFailed(format!(
            "If-Match names revision {w}, but the profile is at revision {}; GET it again and reapply your change",
            old.revision
        )));
    }
    // Compare-and-set on the revision read above: of two concurrent replaces, one wins.
    let row = match state.store.replace_profile(tenant, name, Some(old.revision), &new).await? {
        Some(row) => row,
        None if wanted.is_some() => {
            return Err(ApiError::PreconditionFailed(format!(
                "the profile changed while this request ran (it was at revision {}); GET it again and reapply your change",
                old.revision
            )));
        }
        None => {
            return Err(ApiError::Conflict(
                "the profile changed while this request ran; GET it again and retry (send If-Match to be sure)".into(),
            ));
        }
    };
    if let Ok(old_login) = ProfileLogin::from_row(&old, &state.policy) {
        state.tokens.forget(&old_login).await;
    }
    tracing::info!(tenant = %tenant, profile = %name, revision = row.revision, by = %caller.label(), "profile replaced");
    record(state, caller, tenant, "profile.replace", Some(name)).await;
    Ok(row)
}

/// Delete profile `name`; 404 when there is none. Its tokens are revoked, and
/// with them the credentials they issued, unless `keep_leases`.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    name: &ProfileName,
    keep_leases: bool,
) -> Result<(), ApiError> {
    let row = state
        .store
        .delete_profile(tenant, name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))?;
    // The lease rows go first: a token let go without live leases is revoked.
    if !keep_leases {
        state.store.delete_profile_leases(tenant, name).await?;
    }
    if let Ok(login) = ProfileLogin::from_row(&row, &state.policy) {
        state.tokens.forget_deleted(&login, keep_leases).await;
    }
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), keep_leases, "profile deleted");
    record(state, caller, tenant, "profile.delete", Some(name)).await;
    Ok(())
}
