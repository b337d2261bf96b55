//! Administration: the flows behind the admin handlers — tenants
//! ([`tenants`]), API keys ([`keys`]), profiles ([`profiles`]) and their EC2
//! nonces ([`nonces`]) — each with its store writes, token cache, log line
//! and audit event; validating a profile body
//! ([`profile_input`]) or a tenant's grants ([`grants`]) and testing a
//! profile's whole login chain ([`test_connection`]). Handlers in `routes/`
//! check the caller, call one function here and map its answer.

pub mod grants;
pub mod keys;
pub mod nonces;
pub mod profile_input;
pub mod profiles;
pub mod tenants;
pub mod test_connection;

use crate::audit::Event;
use crate::auth::Caller;
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::ProfileRow;

/// A stored profile, or 404 naming it.
pub async fn load_profile(state: &AppState, tenant: &TenantId, name: &ProfileName) -> Result<ProfileRow, ApiError> {
    state.store.get_profile(tenant, name).await?.ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))
}

/// The audit event of a successful administrative change.
async fn record(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    action: &'static str,
    profile: Option<&ProfileName>,
) {
    let event =
        Event { tenant, action, profile: profile.map(ProfileName::as_str), path: None, outcome: "ok", started: None };
    state.audit.record_admin(caller, event).await;
}
