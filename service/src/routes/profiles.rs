//! `/v1/tenants/{tenant}/profiles`: create, list, read, replace and delete auth profiles.
//! Test connection and EC2 nonces have their own rooms (`test_connection.rs`, `ec2_nonce.rs`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::extract::TenantAdmin;
use super::{profile_target, tenant_id};
use crate::admin::profile_input::ProfileInput;
use crate::admin::{self, load_profile};
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::ProfileRow;

/// A stored auth profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// Name.
    pub name: String,
    /// Vault address.
    pub vault_address: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The method block as sent.
    #[schema(value_type = Object)]
    pub method: Value,
    /// Secret read by test connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_secret_path: Option<String>,
    /// The tenant's AWS role that `iam` logins assume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_role_arn: Option<String>,
    /// The opt-in secret cache's lifetime, like `30s` (absent: off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_cache_ttl: Option<String>,
    /// Whether answers with a lease are shared between callers (with the cache on).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_cache_leased: bool,
    /// The last test connection of this revision, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_test: Option<LastTest>,
    /// 1, then +1 on each replace.
    pub revision: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<ProfileRow> for Profile {
    fn from(r: ProfileRow) -> Self {
        Profile {
            method: r.method_value(),
            name: r.name.to_string(),
            vault_address: r.vault_address,
            namespace: r.namespace,
            test_secret_path: r.test_secret_path,
            aws_role_arn: r.aws_role_arn,
            secret_cache_ttl: r.secret_cache.map(|p| humantime::format_duration(p.ttl).to_string()),
            secret_cache_leased: r.secret_cache.is_some_and(|p| p.leased),
            last_test: r.last_test.map(|(ok, at)| LastTest { ok, at }),
            revision: r.revision,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The outcome of a profile's last test connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct LastTest {
    /// Whether every step passed.
    pub ok: bool,
    /// RFC 3339.
    pub at: String,
}

/// The profile list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileList {
    /// Profiles ordered by name.
    pub profiles: Vec<Profile>,
}

/// Create an auth profile (tenant admin).
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = Profile), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/tenants/{tenant}/profiles")]
pub async fn create_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let TenantAdmin { caller, tenant } = TenantAdmin::check(caller, &path)?;
    let row = admin::profiles::create(&state, &caller, &tenant, &body).await?;
    Ok(HttpResponse::Created().insert_header((header::ETAG, etag(row.revision))).json(Profile::from(row)))
}

/// List auth profiles (tenant admin, or a read key to browse).
#[utoipa::path(tag = "profiles", security(("bearer" = [])), params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = ProfileList), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles")]
pub async fn list_profiles(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require(tenant.as_str(), Scope::Read)?;
    let profiles = state.store.list_profiles(&tenant).await?.into_iter().map(Profile::from).collect();
    Ok(HttpResponse::Ok().json(ProfileList { profiles }))
}

/// Read an auth profile (tenant admin, or a read key to browse).
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = Profile), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn get_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Read)?;
    let row = load_profile(&state, &tenant, &name).await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(row.revision))).json(Profile::from(row)))
}

/// Replace an auth profile (tenant admin): revision +1, the cached token is dropped and revoked.
#[utoipa::path(tag = "profiles", request_body = ProfileInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name")),
    responses((status = 200, body = Profile), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
#[put("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn replace_profile(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<ProfileInput>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    let row = admin::profiles::replace(&state, &caller, &tenant, &name, &body, if_match(&req)).await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(row.revision))).json(Profile::from(row)))
}

/// The ETag of a profile revision: the revision in quotes.
fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// The revision an `If-Match` header names (`"3"`, `W/"3"`; `*` names none).
fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(None) };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/").trim_matches('"').parse::<i64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "If-Match must be a profile ETag like \"3\" (the revision in quotes), not {text:?}"
        ))
    })
}

/// `DELETE .../profiles/{name}` options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteOptions {
    /// Keep the credentials this profile issued alive until their leases end
    /// (default: revoke the profile's tokens, and with them every lease they issued).
    pub keep_leases: Option<bool>,
}

/// Delete an auth profile (tenant admin). Its tokens are revoked, and with them
/// the dynamic credentials they issued, unless `keep_leases=true`.
#[utoipa::path(tag = "profiles", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("name" = String, Path, description = "profile name"), DeleteOptions),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/v1/tenants/{tenant}/profiles/{name}")]
pub async fn delete_profile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    options: web::Query<DeleteOptions>,
) -> Result<HttpResponse, ApiError> {
    let keep_leases = options.keep_leases.unwrap_or(false);
    let (tenant, name) = path.into_inner();
    let (tenant, name) = profile_target(&caller, &tenant, &name, Scope::Admin)?;
    admin::profiles::delete(&state, &caller, &tenant, &name, keep_leases).await?;
    Ok(HttpResponse::NoContent().finish())
}
