//! `/v1/tenants/{tenant}/api-keys`: keys are shown once, stored as a hash.

use actix_web::{HttpResponse, delete, get, post, web};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tenant_id;
use crate::admin;
use crate::auth::{Caller, Scope};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::ApiKeyRow;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// A label for people.
    #[schema(example = "snowflake-connector", min_length = 1, max_length = 200)]
    pub name: String,
    /// `admin` (profiles, tests, keys) and/or `read` (secret reads).
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// A key as listed (no key material).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    /// Key id (also the middle part of the key).
    pub id: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl From<ApiKeyRow> for ApiKeyInfo {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyInfo {
            id: r.id,
            name: r.name,
            scopes: r.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            created_at: r.created_at,
        }
    }
}

/// A created key: the only response that ever holds `key`.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key metadata.
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The bearer key; store it now, it is never shown again.
    pub key: String,
}

/// The key list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Keys ordered by creation.
    pub api_keys: Vec<ApiKeyInfo>,
}

/// Create an API key (operator or tenant admin).
#[utoipa::path(tag = "api-keys", request_body = NewKeyRequest, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 201, body = CreatedKey), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
#[post("/v1/tenants/{tenant}/api-keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    let name = super::label(&body.name)?;
    let issued = admin::keys::create(&state, &caller, &tenant, name, &body.scopes).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedKey { info: issued.row.into(), key: issued.key.expose_secret().to_string() }))
}

/// List API keys (operator or tenant admin).
#[utoipa::path(tag = "api-keys", security(("bearer" = [])), params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = ApiKeyList), (status = 401, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}/api-keys")]
pub async fn list_keys(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant_id(&path)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    if !state.store.tenant_exists(&tenant).await? {
        return Err(ApiError::NotFound(format!("no tenant {tenant}")));
    }
    let api_keys = state.store.list_api_keys(&tenant).await?.into_iter().map(ApiKeyInfo::from).collect();
    Ok(HttpResponse::Ok().json(ApiKeyList { api_keys }))
}

/// Revoke an API key (operator or tenant admin).
#[utoipa::path(tag = "api-keys", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), ("id" = String, Path, description = "key id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
#[delete("/v1/tenants/{tenant}/api-keys/{id}")]
pub async fn delete_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, id) = path.into_inner();
    let tenant = tenant_id(&tenant)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    admin::keys::revoke(&state, &caller, &tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
