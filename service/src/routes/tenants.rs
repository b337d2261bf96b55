//! `/v1/tenants`: the operator creates and lists tenants.

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    #[schema(example = "Team A")]
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
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant { id: r.id, name: r.name, created_at: r.created_at }
    }
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
    let row = state.store.create_tenant(&id, name).await.map_err(|e| match e {
        crate::store::StoreError::Conflict(_) => ApiError::Conflict(format!("tenant {id} already exists")),
        other => other.into(),
    })?;
    tracing::info!(tenant = %id, by = %caller.label(), "tenant created");
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
