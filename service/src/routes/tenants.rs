//! `/v1/tenants`: the operator creates and lists tenants, and narrows what each
//! may reach (Vault origins, login types); a tenant's admins may read their own.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin;
use crate::auth::Caller;
use crate::domain::TenantId;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::store::TenantRow;

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Id, `^[a-z0-9][a-z0-9-]{0,62}$`.
    #[schema(example = "team-a", pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub id: String,
    /// Display name.
    #[schema(example = "Team A", min_length = 1, max_length = 200)]
    pub name: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tenant {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// The external id the service sends with this tenant's AWS AssumeRole
    /// calls (assigned at creation, never settable). Put it in the trust policy
    /// of the tenant's role as `sts:ExternalId`.
    pub aws_external_id: String,
    /// The operator's narrowing of the allowed Vault origins (absent: the global list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_addresses: Option<Vec<String>>,
    /// The operator's narrowing of the login types (absent: the default grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id.to_string(),
            name: r.name,
            created_at: r.created_at,
            aws_external_id: r.aws_external_id,
            vault_addresses: r.vault_addresses,
            methods: r.methods,
        }
    }
}

/// The operator's grants for one tenant; each must narrow the global settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantGrantsInput {
    /// Allowed Vault origins (`scheme://host[:port]`, `*.` hosts, `:*` ports), each within `AUTH_SERVICE_VAULT_ADDRESSES`.
    #[schema(example = json!(["https://vault.team-a.example.com:8200"]))]
    pub vault_addresses: Option<Vec<String>>,
    /// Allowed login types: `iam`, `ec2`, `jwt`, each enabled globally.
    #[schema(example = json!(["iam"]))]
    pub methods: Option<Vec<String>>,
}

/// The tenant list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// Tenants ordered by id.
    pub tenants: Vec<Tenant>,
}

/// Create a tenant (operator).
#[utoipa::path(tag = "tenants", request_body = NewTenant, security(("bearer" = [])),
    responses((status = 201, body = Tenant), (status = 400, body = Problem, content_type = "application/problem+json"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/v1/tenants")]
pub async fn create_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let id = TenantId::parse(&body.id).map_err(|e| ApiError::field("/id", e))?;
    let name = super::label(&body.name)?;
    let row = admin::tenants::create(&state, &caller, &id, name).await?;
    Ok(HttpResponse::Created().json(Tenant::from(row)))
}

/// List tenants (operator).
#[utoipa::path(tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = TenantList), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/v1/tenants")]
pub async fn list_tenants(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let tenants = state.store.list_tenants().await?.into_iter().map(Tenant::from).collect();
    Ok(HttpResponse::Ok().json(TenantList { tenants }))
}

/// Read a tenant (operator, or that tenant's admin), with its AWS external id and grants.
#[utoipa::path(tag = "tenants", security(("bearer" = [])), params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = Tenant), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/v1/tenants/{tenant}")]
pub async fn get_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = super::tenant_id(&path)?;
    caller.require_operator_or_admin(tenant.as_str())?;
    let row =
        state.store.get_tenant(&tenant).await?.ok_or_else(|| ApiError::NotFound(format!("no tenant {tenant}")))?;
    Ok(HttpResponse::Ok().json(Tenant::from(row)))
}

/// Narrow what a tenant may reach (operator): Vault origins and login types,
/// each within the global settings. Applies at once to stored profiles too.
#[utoipa::path(tag = "tenants", request_body = TenantGrantsInput, security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id")),
    responses((status = 200, body = Tenant), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[patch("/v1/tenants/{tenant}")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    // An object only: serde would also read a struct of optional fields from an array.
    if !body.is_object() {
        return Err(ApiError::field("", "the body must be a JSON object like {\"methods\": [\"iam\"]}"));
    }
    let body: TenantGrantsInput =
        serde_json::from_value(body.into_inner()).map_err(|e| ApiError::field("", e.to_string()))?;
    let tenant = super::tenant_id(&path)?;
    let row = admin::tenants::update_grants(
        &state,
        &caller,
        &tenant,
        body.vault_addresses.as_deref(),
        body.methods.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Tenant::from(row)))
}

/// How a tenant is deleted.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantDeleteOptions {
    /// `true`: the dynamic credentials the tenant's tokens issued live until their
    /// leases end (default: revoked with the tokens).
    pub keep_leases: Option<bool>,
    /// `true`: keep the tenant's audit trail until `AUTH_SERVICE_AUDIT_RETENTION`
    /// prunes it, like every other event (default: it is deleted with the tenant;
    /// a tenant created again with the same id would see kept events).
    pub keep_audit: Option<bool>,
}

/// Offboard a tenant (operator): its Vault tokens are revoked (and the credentials
/// they issued, unless `keep_leases=true`), its keys, profiles, lease records,
/// unshared EC2 nonces and audit trail (unless `keep_audit=true`) are deleted;
/// other tenants are untouched. The `tenant.delete` event itself stays.
#[utoipa::path(tag = "tenants", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "tenant id"), TenantDeleteOptions),
    responses((status = 204, description = "the tenant and everything of it are gone"),
              (status = 400, description = "a query parameter is not true or false", body = Problem),
              (status = 401, description = "no or unknown key", body = Problem),
              (status = 403, description = "not the operator key", body = Problem),
              (status = 404, description = "no such tenant", body = Problem)))]
#[delete("/v1/tenants/{tenant}")]
pub async fn delete_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    options: web::Query<TenantDeleteOptions>,
) -> Result<HttpResponse, ApiError> {
    caller.require_operator()?;
    let tenant = super::tenant_id(&path)?;
    let options = crate::offboard::Options {
        keep_leases: options.keep_leases.unwrap_or(false),
        keep_audit: options.keep_audit.unwrap_or(false),
    };
    admin::tenants::delete(&state, &caller, &tenant, options).await?;
    Ok(HttpResponse::NoContent().finish())
}
