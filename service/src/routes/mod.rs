//! HTTP handlers, one file per resource.

pub mod api_keys;
pub mod health;
pub mod profiles;
pub mod secrets;
pub mod tenants;

use crate::auth::{Caller, Scope};
use crate::domain::{Name, NameKind};
use crate::error::ApiError;

/// Parse a tenant id from the path: a malformed one cannot exist, so 404.
pub fn tenant_id(raw: &str) -> Result<Name, ApiError> {
    Name::parse(raw, NameKind::Tenant).map_err(|_| ApiError::NotFound("no such tenant".into()))
}

/// Parse a profile name from the path: a malformed one cannot exist, so 404.
pub fn profile_name(raw: &str) -> Result<Name, ApiError> {
    Name::parse(raw, NameKind::Profile).map_err(|_| ApiError::NotFound("no such profile".into()))
}

/// Parse `{tenant}/profiles/{name}` and check that `caller` may act there with `scope`
/// (another tenant's key: 404 before anything else is looked at).
pub fn profile_target(caller: &Caller, tenant: &str, name: &str, scope: Scope) -> Result<(Name, Name), ApiError> {
    let tenant = tenant_id(tenant)?;
    caller.require(tenant.as_str(), scope)?;
    Ok((tenant, profile_name(name)?))
}
