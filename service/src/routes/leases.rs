//! `/v1/tenants/{tenant}/profiles/{name}/leases/{renew,revoke}`: connectors
//! renew or revoke the dynamic credentials a profile issued. Only leases
//! issued through this tenant's profile are accepted (any other: 404).

use std::time::SystemTime;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::profile_target;
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::leases::rfc3339;
pub use crate::reads::leases::RenewedLease;
use crate::reads::leases::{increment_seconds, lease_id, renew, revoke};
use crate::reads::load_login;
use crate::state::AppState;

/// A lease to renew.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewInput {
    /// The lease id a secret read returned.
    #[schema(example = "database/creds/app/3XcT7uJ2Bq")]
    pub lease_id: String,
    /// The new duration asked for: seconds, or a duration like `"1h"` (Vault may grant less).
    #[schema(value_type = Option<Object>, example = 3600)]
    pub increment: Option<Value>,
}

/// A lease to revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    /// The lease id a secret read returned.
    pub lease_id: String,
}

/// Renew a lease this profile issued (read scope). The issuing token is renewed
/// as far as needed for the lease to reach its new end; the answer is honest.
#[utoipa::path(tag = "secrets", request_body = RenewInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = RenewedLease), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/leases/renew")]
pub async fn renew_lease(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RenewInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let increment = increment_seconds(&body.increment)?;
    let lease = lease_id(&body.lease_id)?;
    let login = load_login(&state.reads(), &tenant, &name).await?;
    let (renewed, _) = renew(&state.reads(), &login, &lease, increment).await?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), lease_duration = renewed.lease_duration, "lease renewed");
    state.audit.record(
        &caller,
        crate::audit::Event {
            tenant: &tenant,
            action: "lease.renew",
            profile: Some(name.as_str()),
            path: None,
            outcome: "ok",
            started: None,
        },
    );
    Ok(HttpResponse::Ok().json(renewed))
}

/// Revoke a lease this profile issued (read scope): the credentials stop working at once.
#[utoipa::path(tag = "secrets", request_body = RevokeInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 502, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/leases/revoke")]
pub async fn revoke_lease(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RevokeInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let lease = lease_id(&body.lease_id)?;
    let login = load_login(&state.reads(), &tenant, &name).await?;
    revoke(&state.reads(), &login, &lease).await?;
    tracing::info!(tenant = %tenant, profile = %name, by = %caller.label(), "lease revoked");
    state.audit.record(
        &caller,
        crate::audit::Event {
            tenant: &tenant,
            action: "lease.revoke",
            profile: Some(name.as_str()),
            path: None,
            outcome: "ok",
            started: None,
        },
    );
    Ok(HttpResponse::NoContent().finish())
}

/// A lease as the list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseView {
    /// Vault's lease id.
    pub lease_id: String,
    /// RFC 3339: the honest end.
    pub expires_at: String,
}

/// The profile's leases that have not ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseList {
    /// Soonest end first, at most 500.
    pub leases: Vec<LeaseView>,
}

/// List the leases this profile issued that have not ended (read scope).
#[utoipa::path(tag = "secrets", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, description = "the profile's live leases", body = LeaseList),
              (status = 401, description = "no or unknown key", body = Problem),
              (status = 403, description = "the key lacks the read scope", body = Problem),
              (status = 404, description = "no such profile in this tenant", body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}/leases")]
pub async fn list_leases(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    load_login(&state.reads(), &tenant, &name).await?;
    let now = rfc3339(SystemTime::now());
    let leases = state.store.list_leases(&tenant, &name, &now).await?;
    let leases = leases.into_iter().map(|l| LeaseView { lease_id: l.lease_id, expires_at: l.expires_at }).collect();
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(LeaseList { leases }))
}
