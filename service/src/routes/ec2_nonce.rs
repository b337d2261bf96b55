//! `/v1/tenants/{tenant}/profiles/{name}/ec2-nonce`: what the service holds for
//! a profile's EC2 login (never the nonce itself), and starting over with a new
//! one ([`crate::admin::nonces`]).

use actix_web::{HttpResponse, get, post, web};

use crate::admin::nonces::{self, NonceInfo};
use crate::auth::Caller;
use crate::domain::{ProfileName, TenantId};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Parse the path and check the caller: the operator may act on any tenant's
/// nonce (resetting a shared one is theirs alone), a tenant admin on its own.
fn nonce_target(caller: &Caller, tenant: &str, name: &str) -> Result<(TenantId, ProfileName), ApiError> {
    let tenant = super::tenant_id(tenant)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    Ok((tenant, super::profile_name(name)?))
}

/// Show the EC2 nonce state of a profile's login key (tenant admin); never the value.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = NonceInfo), (status = 400, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}/ec2-nonce")]
pub async fn get_nonce(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = nonce_target(&caller, &tenant, &name)?;
    Ok(HttpResponse::Ok().json(nonces::show(&state, &tenant, &name).await?))
}

/// Start over with a new EC2 nonce (tenant admin, or the operator), after the Vault admin deleted
/// this instance's identity access-list entry. Applies to every profile that
/// logs in to the same Vault, namespace and mount from this host. A tenant admin gets 409 when
/// another tenant's profile shares the nonce: only the operator may reset that one.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = NonceInfo), (status = 400, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/ec2-nonce/reset")]
pub async fn reset_nonce(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = nonce_target(&caller, &tenant, &name)?;
    Ok(HttpResponse::Ok().json(nonces::reset(&state, &caller, &tenant, &name).await?))
}
