//! HTTP handlers, one file per resource.

pub mod allow;
pub mod api_keys;
pub mod audit;
pub mod console;
pub mod console_api;
pub mod docs;
pub mod ec2_nonce;
pub mod extract;
pub mod health;
pub mod labels;
pub mod leases;
pub mod profiles;
pub mod secrets;
pub mod table;
pub mod tenants;
pub mod test_connection;
pub mod vault_api;

use actix_web::web;
use utoipa_swagger_ui::{Config, SwaggerUi};

use self::table::{Methods, Routes};

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

/// Every route the service serves, in the order actix tries them (a regular
/// expression each), each recorded in the route table as it is registered.
pub fn register(routes: &mut Routes) {
    // The Vault-compatible endpoint, the other hot path, first (its prefix is its own).
    routes.any("/vault/{tenant}/{profile}/v1/{path}", vault_api::handle);
    api_routes(routes);
    routes
        .get("/openapi.json", docs::openapi_json)
        .service("/docs/{path}", Methods::Only(vec!["GET"]), |pattern| {
            SwaggerUi::new(pattern.to_string()).config(Config::new(["/openapi.json"]).validator_url("none"))
        })
        .service("/docs", Methods::Any, |pattern| web::redirect(pattern.to_string(), "/docs/"));
    console::routes(routes);
}

/// Every documented route (the OpenAPI document is collected from them).
fn api_routes(routes: &mut Routes) {
    // The secret read, the hot path, first.
    routes
        .api(secrets::read_secret)
        .api(tenants::create_tenant)
        .api(tenants::list_tenants)
        .api(tenants::get_tenant)
        .api(tenants::update_tenant)
        .api(tenants::delete_tenant)
        .api(audit::list_audit)
        .api(api_keys::create_key)
        .api(api_keys::list_keys)
        .api(api_keys::delete_key)
        .api(console_api::whoami)
        .api(console_api::method_block_schema)
        .api(console_api::profile_options)
        .api(console_api::render_profile)
        .api(console_api::validate_profile_body)
        .api(console_api::test_profile_body)
        .api(profiles::create_profile)
        .api(profiles::list_profiles)
        .api(profiles::get_profile)
        .api(profiles::replace_profile)
        .api(profiles::delete_profile)
        .api(test_connection::test_profile)
        .api(ec2_nonce::get_nonce)
        .api(ec2_nonce::reset_nonce)
        .api(leases::renew_lease)
        .api(leases::revoke_lease)
        .api(leases::list_leases)
        .api(health::healthz)
        .api(health::readyz)
        .api(health::metrics);
}
