//! Administration: what the admin handlers call beyond the store —
//! validating a profile body ([`profile_input`]) or a tenant's grants
//! ([`grants`]) and testing a profile's whole login chain
//! ([`test_connection`]). Handlers in `routes/` share these rather than
//! importing each other.

pub mod grants;
pub mod profile_input;
pub mod test_connection;

use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::ProfileRow;

/// A stored profile, or 404 naming it.
pub async fn load_profile(state: &AppState, tenant: &TenantId, name: &ProfileName) -> Result<ProfileRow, ApiError> {
    state.store.get_profile(tenant, name).await?.ok_or_else(|| ApiError::NotFound(format!("no profile {name}")))
}
