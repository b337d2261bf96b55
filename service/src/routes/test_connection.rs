//! `POST /v1/tenants/{tenant}/profiles/{name}/test`: the whole chain for a
//! stored profile ([`crate::admin::test_connection`]), always a 200 report.

use actix_web::{HttpResponse, post, web};

use super::profile_target;
use crate::admin::test_connection::{TestReport, test_stored};
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Test connection (tenant admin): a fresh agent login (ignoring cache and back-off),
/// token verification and the optional test secret read. Always 200; the outcome is in the body.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = TestReport), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles/{name}/test")]
pub async fn test_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    let report = test_stored(&state, &caller, &tenant, &name).await?;
    Ok(HttpResponse::Ok().json(report))
}
