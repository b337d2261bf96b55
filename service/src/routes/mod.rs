//! HTTP handlers, one file per resource.

pub mod api_keys;
pub mod audit;
pub mod console;
pub mod console_api;
pub mod ec2_nonce;
pub mod extract;
pub mod health;
pub mod labels;
pub mod leases;
pub mod profiles;
pub mod secrets;
pub mod tenants;
pub mod test_connection;
pub mod vault_api;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::{Caller, Scope};
use crate::domain::{ProfileName, TenantId};
use crate::error::ApiError;

/// Parse a tenant id from the path: a malformed one cannot exist, so 404.
pub fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| ApiError::NotFound("no such tenant".into()))
}

/// Parse a profile name from the path: a malformed one cannot exist, so 404.
pub fn profile_name(raw: &str) -> Result<ProfileName, ApiError> {
    ProfileName::parse(raw).map_err(|_| ApiError::NotFound("no such profile".into()))
}

/// A display label (a tenant's or a key's `/name`): trimmed, 1 to 200 printable characters.
pub fn label(raw: &str) -> Result<&str, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::field("/name", "1 to 200 printable characters"));
    }
    Ok(name)
}

/// Parse `{tenant}/profiles/{name}` and check that `caller` may act there with `scope`
/// (another tenant's key: 404 before anything else is looked at).
pub fn profile_target(
    caller: &Caller,
    tenant: &str,
    name: &str,
    scope: Scope,
) -> Result<(TenantId, ProfileName), ApiError> {
    let tenant = tenant_id(tenant)?;
    caller.require(tenant.as_str(), scope)?;
    Ok((tenant, profile_name(name)?))
}

/// Every documented route (the OpenAPI document and the server both take them from here).
pub fn api_routes(cfg: &mut ServiceConfig) {
    // actix tries routes in this order, a regular expression each: the secret read, the hot path, first.
    cfg.service(secrets::read_secret)
        .service(tenants::create_tenant)
        .service(tenants::list_tenants)
        .service(tenants::get_tenant)
        .service(tenants::update_tenant)
        .service(tenants::delete_tenant)
        .service(audit::list_audit)
        .service(api_keys::create_key)
        .service(api_keys::list_keys)
        .service(api_keys::delete_key)
        .service(console_api::whoami)
        .service(console_api::method_block_schema)
        .service(console_api::profile_options)
        .service(console_api::render_profile)
        .service(console_api::validate_profile_body)
        .service(console_api::test_profile_body)
        .service(profiles::create_profile)
        .service(profiles::list_profiles)
        .service(profiles::get_profile)
        .service(profiles::replace_profile)
        .service(profiles::delete_profile)
        .service(test_connection::test_profile)
        .service(ec2_nonce::get_nonce)
        .service(ec2_nonce::reset_nonce)
        .service(leases::renew_lease)
        .service(leases::revoke_lease)
        .service(leases::list_leases)
        .service(health::healthz)
        .service(health::readyz)
        .service(health::metrics);
}
