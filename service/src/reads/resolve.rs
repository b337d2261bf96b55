//! From a profile's name to what a read needs: the stored row parsed for login
//! and checked against the tenant's current grants. The rows come from the
//! store's memory ([`crate::store::memo`]); the parsed login and the grants'
//! verdict are kept against the exact row values they were made from, so a
//! warm read neither parses nor checks again, and any change (a new row value)
//! is seen at once.

use std::sync::Arc;

use super::Reads;
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::store::TenantRow;
use crate::tokens::ProfileLogin;
use crate::trust::TenantPolicy;

use super::resolution::{Resolution, Verdict};

/// Load a profile and parse it for login (403 when the tenant's grants no longer allow it).
pub async fn load_login(
    state: &Reads<'_>,
    tenant: &TenantId,
    name: &ProfileName,
) -> Result<Arc<ProfileLogin>, ApiError> {
    let row = state
        .store
        .profile_shared(tenant, name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))?;
    let tenant_row =
        state.store.tenant_shared(tenant).await?.ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    let key = (tenant.clone(), name.clone());
    let resolution = match state.resolutions.get(&key) {
        Some(r) if Arc::ptr_eq(&r.row, &row) && Arc::ptr_eq(&r.tenant, &tenant_row) => r,
        // The same content read again (memory's entries are re-read every few
        // seconds): the verdict stands, without parsing or checking again.
        Some(p) if *p.row == *row && *p.tenant == *tenant_row => {
            let r = Arc::new(Resolution { row, tenant: tenant_row, verdict: p.verdict.clone() });
            state.resolutions.insert(key, r.clone());
            r
        }
        previous => {
            if previous.is_some_and(|p| (p.row.revision, &p.row.created_at) != (row.revision, &row.created_at)) {
                // The profile changed: its cached secrets go (they could not answer anyway).
                state.secrets.drop_profile(tenant, name);
            }
            let verdict = match ProfileLogin::from_row(&row, state.policy) {
                Err(e) => Verdict::Unparsable(e.to_string()),
                Ok(login) => {
                    let login = Arc::new(login);
                    match problem(state, &tenant_row, &login)? {
                        Some(reason) => Verdict::Refused(reason),
                        None => Verdict::Ready(login),
                    }
                }
            };
            let r = Arc::new(Resolution { row, tenant: tenant_row, verdict });
            state.resolutions.insert(key, r.clone());
            r
        }
    };
    match &resolution.verdict {
        Verdict::Ready(login) => Ok(login.clone()),
        Verdict::Unparsable(e) => Err(ApiError::Unavailable {
            detail: e.clone(),
            hint: Some("replace the profile with a method block this service accepts".into()),
            retry_after: None,
        }),
        Verdict::Refused(reason) => Err(ApiError::Forbidden(reason.clone())),
    }
}

/// Why the operator's current grants no longer allow a stored profile, if they do not
/// (checked before every login and read: a narrowed grant applies at once).
pub async fn trust_problem(state: &Reads<'_>, login: &ProfileLogin) -> Result<Option<String>, ApiError> {
    let tenant_row = state
        .store
        .tenant_shared(login.tenant())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no tenant {}", login.tenant())))?;
    problem(state, &tenant_row, login)
}

fn problem(state: &Reads<'_>, tenant_row: &TenantRow, login: &ProfileLogin) -> Result<Option<String>, ApiError> {
    let trust = TenantPolicy::new(state.settings, tenant_row).map_err(|e| ApiError::Internal(e.to_string()))?;
    let problems = trust.profile_problems(Some(&login.address), &login.block, login.aws_role_arn.as_deref());
    Ok(problems.first().map(|p| {
        format!(
            "the operator's current settings no longer allow this profile ({}: {}); replace it",
            p.pointer, p.message
        )
    }))
}
