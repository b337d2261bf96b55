//! `GET .../profiles/{name}/secrets/{path}`: read a secret with the profile's token
//! (the read itself is [`crate::reads`]).

use actix_web::{HttpRequest, HttpResponse, get, web};

use super::profile_target;
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::reads::{parse_read, read, read_outcome};
use crate::state::AppState;
use crate::vault;

/// Read a secret (read or admin key). Query parameters are passed on to Vault.
#[utoipa::path(tag = "secrets", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name"),
           ("path" = String, Path, description = "Vault path, like secret/data/app/db")),
    responses((status = 200, description = "Vault's data plus lease fields", body = Object,
               headers(("X-Cache" = String, description = "HIT or MISS: sent when the profile has the secret cache on (secret_cache_ttl)"),
                       ("Age" = u64, description = "with X-Cache: HIT, seconds since Vault gave the kept answer"))),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 502, body = Problem), (status = 503, body = Problem), (status = 504, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}/secrets/{path:.*}")]
pub async fn read_secret(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name, raw_path) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let started = std::time::Instant::now();
    let limit = state.settings.request_timeout;
    let result = match parse_read(&raw_path, req.query_string()) {
        Ok((secret_path, query)) => {
            crate::error::within(limit, read(&state.reads(), &tenant, &name, &secret_path, &query)).await
        }
        Err(e) => Err(e),
    };
    state.metrics.secret_read(read_outcome(&result), "rest");
    let audit_path = crate::domain::secret_path::audit_form(&raw_path);
    state.audit.record_read(&caller, &tenant, name.as_str(), &audit_path, read_outcome(&result), started);
    let served = result?;
    let mut out = vault::SecretAnswer::of(&served.read.found)
        .map_err(|_| ApiError::BadGateway("Vault's answer to the read could not be taken apart".into()))?;
    if let Some(lease) = &served.read.lease {
        out.lease_duration = Some(served.lease_secs_left(lease).into());
        out.expires_at = Some(lease.expires_at.clone());
    }
    Ok(served.response().json(out))
}
